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

test('healthPort serves /healthz only: other paths 404, other methods 405, an unparsable request 400, each with the documented JSON body', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', healthPort: 0 });
  const { request } = await import('node:http');
  const { connect } = await import('node:net');
  const ask = (method: string, path: string) => new Promise<{ status: number; body: { code?: string; status?: string }; allow?: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: g.healthPort, method, path }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : {}, allow: res.headers.allow }));
    });
    req.on('error', reject);
    req.end();
  });
  try {
    assert.equal((await ask('GET', '/healthz?probe=1')).status, 200);
    assert.equal((await ask('HEAD', '/healthz')).status, 200);
    for (const path of ['/', '/stats', '/metrics', '/healthz/x', '/HEALTHZ']) {
      const r = await ask('GET', path);
      assert.deepEqual([r.status, r.body.code], [404, 'FG_ERR_NOT_FOUND'], path);
    }
    const post = await ask('POST', '/healthz');
    assert.deepEqual([post.status, post.body.code, post.allow], [405, 'FG_ERR_METHOD_NOT_ALLOWED', 'GET, HEAD']);
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(g.healthPort, '127.0.0.1', () => s.write('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      s.on('data', (c) => (text += c));
      s.on('close', () => resolve(text));
      s.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).code, 'FG_ERR_BAD_REQUEST');
  } finally {
    await g.close(1000);
  }
});
