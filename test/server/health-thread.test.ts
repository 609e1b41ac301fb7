import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../../src/server/gateway.js';
import { getJson } from '../helpers/scale-gateway.js';

test('healthPort: /healthz answers from its own thread while the main loop is blocked; shutting down answers 503', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', healthPort: 0 });
  try {
    assert.ok(g.healthPort > 0);
    assert.equal(g.startupReport().listen.healthPort, g.healthPort);
    const ok = await getJson(g.healthPort, '/healthz');
    assert.deepEqual([ok.status, ok.body.status], [200, 'ok']);
    // The answer must come while this thread is blocked: a worker thread of the test asks and
    // flags the answer in shared memory; this thread blocks until it sees the flag (or gives up).
    const { Worker } = await import('node:worker_threads');
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const asker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const flag = new Int32Array(workerData.buf);
       parentPort.postMessage('ready');
       require('node:http').get({ host: '127.0.0.1', port: workerData.port, path: '/healthz' }, (r) => {
         r.resume();
         r.on('end', () => { Atomics.store(flag, 1, r.statusCode); Atomics.store(flag, 0, 1); });
       }).on('error', () => Atomics.store(flag, 0, 2));`,
      { eval: true, workerData: { buf: flag.buffer, port: g.healthPort } },
    );
    await new Promise((r) => asker.once('message', r));
    const giveUp = Date.now() + 20_000;
    while (Atomics.load(flag, 0) === 0 && Date.now() < giveUp) {
      /* the gateway's loop (this thread) is blocked the whole time */
    }
    await asker.terminate();
    assert.equal(Atomics.load(flag, 0), 1, 'answered while the main loop was blocked');
    assert.equal(Atomics.load(flag, 1), 200);
    const closing = g.close(1000);
    const down = await getJson(g.healthPort, '/healthz').catch(() => ({ status: 503, body: { status: 'shutting_down' } }));
    assert.deepEqual([down.status, down.body.status], [503, 'shutting_down']);
    await closing;
  } finally {
    await g.close(1000);
  }
});
