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
    // The answer must come while this thread is blocked: ask from a child process (this loop
    // cannot read the answer), block for 1.5 s, then read what the child got and when.
    const { spawn } = await import('node:child_process');
    const script = `const http=require('http');const t=Date.now();http.get({host:'127.0.0.1',port:${g.healthPort},path:'/healthz'},r=>{let b='';r.on('data',c=>b+=c);r.on('end',()=>{console.log(JSON.stringify({status:r.statusCode,at:Date.now(),body:JSON.parse(b)}));});});`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise((r) => child.once('exit', r));
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      /* a busy main loop */
    }
    await exited;
    const answer = JSON.parse(out);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'ok');
    // an ordering, not a speed: the answer existed before this loop was free to write one
    assert.ok(answer.at < until, 'answered while the main loop was blocked');
    const closing = g.close(1000);
    const down = await getJson(g.healthPort, '/healthz').catch(() => ({ status: 503, body: { status: 'shutting_down' } }));
    assert.deepEqual([down.status, down.body.status], [503, 'shutting_down']);
    await closing;
  } finally {
    await g.close(1000);
  }
});
