import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker } from '../../src/client/circuit-breaker.js';

test('opens after N failures within the window, half-opens after the cool-down, closes on success', () => {
  const b = new CircuitBreaker({ threshold: 3, window: 1000, cooldown: 500 });
  assert.equal(b.recordFailure(0), undefined);
  assert.equal(b.recordFailure(100), undefined);
  assert.deepEqual(b.recordFailure(200), { state: 'open', failures: 3, retryAt: 700 });
  assert.equal(b.state, 'open');
  assert.equal(b.tryHalfOpen(699), undefined);
  assert.deepEqual(b.tryHalfOpen(700), { state: 'half-open' });
  assert.deepEqual(b.recordSuccess(), { state: 'closed' });
  assert.equal(b.state, 'closed');
});

test('failures spread wider than the window do not open it', () => {
  const b = new CircuitBreaker({ threshold: 3, window: 1000, cooldown: 500 });
  for (let t = 0; t < 10_000; t += 600) assert.equal(b.recordFailure(t), undefined);
  assert.equal(b.state, 'closed');
});

test('a failed trial in half-open opens it again for another cool-down', () => {
  const b = new CircuitBreaker({ threshold: 2, window: 1000, cooldown: 500 });
  b.recordFailure(0);
  b.recordFailure(1);
  b.tryHalfOpen(600);
  assert.deepEqual(b.recordFailure(650), { state: 'open', failures: 1, retryAt: 1150 });
});

test('a success clears the failure count; threshold 0 disables the breaker', () => {
  const b = new CircuitBreaker({ threshold: 3, window: 1000, cooldown: 500 });
  b.recordFailure(0);
  b.recordFailure(1);
  b.recordSuccess();
  assert.equal(b.recordFailure(2), undefined);
  const off = new CircuitBreaker({ threshold: 0, window: 1000, cooldown: 500 });
  for (let i = 0; i < 100; i++) assert.equal(off.recordFailure(i), undefined);
});
