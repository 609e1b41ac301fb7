import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffBase, backoffBounds, chooseDelay, parseRetryAfter, type BackoffOptions } from '../../src/client/backoff.js';
import { CLIENT_DEFAULTS } from '../../src/client/options.js';

const defaults = (random: () => number, over: Partial<BackoffOptions> = {}): BackoffOptions => ({
  initialDelay: CLIENT_DEFAULTS.initialDelay,
  multiplier: CLIENT_DEFAULTS.multiplier,
  maxDelay: CLIENT_DEFAULTS.maxDelay,
  jitter: CLIENT_DEFAULTS.jitter,
  jitterMode: CLIENT_DEFAULTS.jitterMode,
  random,
  ...over,
});

test('defaults are the ones of the background notes: 500 ms, ×1.5, 60 s cap, 25% jitter', () => {
  assert.equal(CLIENT_DEFAULTS.initialDelay, 500);
  assert.equal(CLIENT_DEFAULTS.multiplier, 1.5);
  assert.equal(CLIENT_DEFAULTS.maxDelay, 60_000);
  assert.equal(CLIENT_DEFAULTS.jitter, 0.25);
  assert.equal(CLIENT_DEFAULTS.maxAttempts, 0);
});

test('the base grows by the multiplier and stops at maxDelay, even for huge attempt counts', () => {
  const o = defaults(() => 0.5);
  assert.equal(backoffBase(o, 0), 500);
  assert.equal(backoffBase(o, 1), 750);
  assert.equal(backoffBase(o, 2), 1125);
  assert.equal(backoffBase(o, 30), 60_000);
  assert.equal(backoffBase(o, 1e6), 60_000);
});

test('partial jitter: the extremes of the random source hit the ±25% bounds, capped at maxDelay', () => {
  assert.equal(chooseDelay(defaults(() => 0), 0).delay, 375);
  assert.equal(chooseDelay(defaults(() => 0.999999), 0).delay, 625);
  assert.equal(chooseDelay(defaults(() => 0.999999), 40).delay, 60_000);
  assert.equal(chooseDelay(defaults(() => 0), 40).delay, 45_000);
});

test('full jitter draws from 0 … base', () => {
  const o = defaults(() => 0, { jitterMode: 'full' });
  assert.equal(chooseDelay(o, 3).delay, 0);
  assert.deepEqual(backoffBounds(o, 3), { base: 1687.5, min: 0, max: 1687.5 });
});

test('10,000 seeded draws stay inside the bounds of their attempt', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const jitterMode of ['partial', 'full'] as const) {
    const o = defaults(random, { jitterMode });
    for (let i = 0; i < 10_000; i++) {
      const attempt = i % 20;
      const d = chooseDelay(o, attempt);
      const b = backoffBounds(o, attempt);
      assert.ok(d.delay >= Math.floor(b.min) && d.delay <= Math.ceil(b.max), `${jitterMode} attempt ${attempt}: ${d.delay} outside [${b.min}, ${b.max}]`);
    }
  }
});

test('Retry-After sets a floor of N seconds plus up to jitter·N, and wins over a shorter backoff', () => {
  const lo = chooseDelay(defaults(() => 0), 0, 2);
  assert.equal(lo.reason, 'retry-after');
  assert.equal(lo.delay, 2000);
  const hi = chooseDelay(defaults(() => 0.999999), 0, 2);
  assert.equal(hi.delay, 2500);
  // A longer backoff than Retry-After is kept.
  const long = chooseDelay(defaults(() => 0.5), 20, 1);
  assert.equal(long.reason, 'backoff');
  // attempt 20 is at the 60 s cap: drawn from [45 s, 60 s], the middle of it for random 0.5
  assert.equal(long.delay, 52_500);
});

test('parseRetryAfter reads seconds and HTTP dates, and ignores junk', () => {
  assert.equal(parseRetryAfter('5'), 5);
  assert.equal(parseRetryAfter(['7']), 7);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter('99999'), 3600);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30);
});
