import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../../src/client/index.js';
import type { FloodgateError } from '../../src/errors.js';
import { Haproxy, haproxyAvailable } from '../helpers/haproxy.js';
import { freePort } from '../helpers/redis-server.js';

test("a real HAProxy with no gateway behind it: its 503 is FG_ERR_UPSTREAM_UNAVAILABLE, retried with the normal backoff", { skip: haproxyAvailable() ? false : 'haproxy is not installed', timeout: 60_000 }, async () => {
  const lb = new Haproxy(await freePort(), [await freePort()]); // nothing listens on the backend port
  await lb.start();
  const c = new Client(`ws://127.0.0.1:${lb.port}/`, { initialDelay: 50, maxDelay: 200, circuitThreshold: 0, maxAttempts: 2 });
  const errors: FloodgateError[] = [];
  c.on('error', (e) => errors.push(e));
  try {
    await assert.rejects(c.ready(30_000), (e: FloodgateError) => e.code === 'FG_ERR_RECONNECT_EXHAUSTED');
    const refusals = errors.filter((e) => e.code !== 'FG_ERR_RECONNECT_EXHAUSTED');
    assert.deepEqual(refusals.map((e) => [e.code, e.details?.status]), [['FG_ERR_UPSTREAM_UNAVAILABLE', 503], ['FG_ERR_UPSTREAM_UNAVAILABLE', 503]]);
    assert.deepEqual(c.delays.map((d) => d.reason), ['backoff']);
  } finally {
    await c.close();
    await lb.stop();
  }
});
