import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { run } from '../../src/loadgen/index.js';

// A server that answers every upgrade 120 ms late, driven at 100/s (one worker: a 10 ms interval).
let wss: WebSocketServer;
let port: number;
before(async () => {
  wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (_info, done) => setTimeout(() => done(true), 120),
  });
  await new Promise((r) => wss.once('listening', r));
  port = (wss.address() as { port: number }).port;
});
after(() => wss.close());

test('with a rate, the corrected handshake histogram adds the samples a closed loop would have missed', async () => {
  const r = await run({ url: `ws://127.0.0.1:${port}/`, connections: 20, rate: 100, durationMs: 200, workers: 1, tickMs: 100 });
  assert.equal(r.totals.successes, 20);
  const raw = r.latencyMs.handshake;
  const co = r.correctedHandshakeMs;
  assert.equal(raw.count, 20);
  assert.ok(raw.min >= 110, `every handshake waited for the server (min ${raw.min} ms)`);
  // each ~120 ms answer stands for ~11 more requests that a closed loop would have delayed
  assert.ok(co.count >= 20 * 8, `corrected count ${co.count}`);
  assert.ok(co.min < raw.min / 2, `synthetic samples fill in below the measured ones (min ${co.min} ms)`);
  assert.ok(co.max >= raw.max, 'the measured maximum stays');
});

test('without a rate (a burst) there is nothing to correct: both histograms agree', async () => {
  const r = await run({ url: `ws://127.0.0.1:${port}/`, connections: 10, durationMs: 200, workers: 1, tickMs: 100 });
  assert.equal(r.correctedHandshakeMs.count, r.latencyMs.handshake.count);
  assert.equal(r.correctedHandshakeMs.p99, r.latencyMs.handshake.p99);
});
