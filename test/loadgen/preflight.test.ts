import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONNECTIONS_PER_WORKER, preflight } from '../../src/loadgen/preflight.js';

const plan = (connections: number, workers?: number, fdLimit = 20_000) => preflight({ connections, workers, fdLimit, sourceIps: ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'], targetPort: 1, timeWait: 0, force: true });

test('without `workers`: one process up to CONNECTIONS_PER_WORKER, then a worker process per that many', () => {
  assert.deepEqual([plan(1).workers, plan(1).inProcess], [1, true]);
  assert.deepEqual([plan(CONNECTIONS_PER_WORKER).workers, plan(CONNECTIONS_PER_WORKER).inProcess], [1, true]);
  assert.deepEqual([plan(CONNECTIONS_PER_WORKER + 1).workers, plan(CONNECTIONS_PER_WORKER + 1).inProcess], [2, false]);
  assert.equal(plan(100_000).workers, Math.ceil(100_000 / CONNECTIONS_PER_WORKER));
});

test('the fd limit still raises the count, and an explicit count always forks', () => {
  // 10,000 connections under a 4,000-fd limit need 3 processes of 3,936 usable fds each
  const p = plan(10_000, undefined, 4000);
  assert.deepEqual([p.workers, p.inProcess], [3, false]);
  assert.deepEqual([plan(100, 1).workers, plan(100, 1).inProcess], [1, false]);
  assert.deepEqual([plan(100, 2).workers, plan(100, 2).inProcess], [2, false]);
});
