import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server, Socket } from 'node:net';
import { createGateway } from '../../src/server/gateway.js';
import { openPeer, rawUpgrade } from '../helpers/ws-peer.js';

test('an upgrade the process could not even read before the handshake timeout gets 503 + Retry-After, not a reset', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', handshakeTimeout: 200, retryAfter: 3 });
  try {
    // Stand in for an overloaded process: right after the first connection is accepted (and
    // queued), the event loop is blocked past that connection's handshake deadline.
    const listener = (g as unknown as { listener: Server }).listener;
    let blocked = false;
    listener.on('connection', (_s: Socket) => {
      if (blocked) return;
      blocked = true;
      const until = Date.now() + 400;
      while (Date.now() < until) { /* busy */ }
    });
    const answer = await rawUpgrade(g.port);
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['retry-after'], '3');
    assert.equal(JSON.parse(answer.body).code, 'FG_ERR_OVER_CAPACITY');
    assert.match(JSON.parse(answer.body).message, /not read within 200 ms/);
    const s = g.stats();
    assert.equal(s.admission.rejected.accept_timeout, 1);
    assert.equal(s.admission.handshakeTimeouts, 0, 'answered, not cut off');
    // the next one, on time, is served as usual
    const peer = await openPeer(`ws://127.0.0.1:${g.port}/`);
    peer.close();
  } finally {
    await g.close(1000);
  }
});
