import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken } from '../../src/auth/create-token.js';
import { openPeer, type Peer } from '../helpers/ws-peer.js';
import { freePort } from '../helpers/redis-server.js';
import { startServe, stopServe } from '../helpers/serve-process.js';
import { call } from '../helpers/http-call.js';

const KEY = 'workers-key';

test('serve --workers 2 --admin-port: one admin port for the machine; publish, channels and disconnect cover both workers', { timeout: 180_000 }, async () => {
  const [port, adminPort] = [await freePort(), await freePort()];
  const secret = 'w-secret';
  const g = await startServe(port, [
    '--workers', '2', '--worker-balance', 'round-robin', '--admin-port', String(adminPort), '--api-key', KEY, '--auth-secret', secret,
  ], /"workers":\{/);
  const peers: Peer[] = [];
  try {
    const workers = JSON.parse(g.stdout.split('\n').find((l) => l.startsWith('{"workers"'))!).workers;
    assert.deepEqual(workers.admin, { host: '127.0.0.1', port: adminPort, tls: false });
    const token = createToken(secret, { sub: 'carol', exp: Math.floor(Date.now() / 1000) + 120 });
    for (let i = 0; i < 6; i++) peers.push(await openPeer(`${g.url}?token=${token}`));
    assert.equal(new Set(peers.map((p) => p.frames[0].node)).size, 2, 'round-robin puts connections on both workers');
    peers.forEach((p) => p.send({ type: 'subscribe', id: 1, channel: 'room' }));
    await Promise.all(peers.map((p) => p.next((f) => f.type === 'subscribed', 30_000)));

    assert.equal((await call(port, 'GET', '/stats/machine')).body.code, 'FG_ERR_ADMIN_ONLY');
    const machine = await call(adminPort, 'GET', '/stats/machine');
    assert.equal(machine.body.connections.current, 6);

    const h = { headers: { 'x-api-key': KEY } };
    // several requests: with round-robin on the admin port too, both workers take some
    for (let i = 1; i <= 4; i++) {
      const r = await call(adminPort, 'POST', '/api/publish', { ...h, body: { channel: 'room', data: i } });
      assert.equal(r.body.offset, i);
      const ch = await call(adminPort, 'GET', '/api/channels', h);
      assert.deepEqual(ch.body.channels, [{ channel: 'room', subscribers: 6 }]);
    }
    for (const p of peers) assert.deepEqual((await p.count((f) => f.type === 'message', 4, 30_000)).map((f) => f.data), [1, 2, 3, 4]);

    const d = await call(adminPort, 'POST', '/api/disconnect', { ...h, body: { sub: 'carol' } });
    assert.deepEqual(d.body, { sub: 'carol', closed: 6, workers: { expected: 2, answered: 2, missing: [] } });
    for (const p of peers) assert.equal(await p.closed, 4003);
    // whichever worker took each API request counted it: the machine's sums hold all of them
    const api = (await call(adminPort, 'GET', '/stats/machine')).body.api;
    assert.equal(api.publications, 4);
    assert.deepEqual([api.requests.publish.ok, api.requests.channels.ok, api.requests.disconnect.ok], [4, 4, 1]);
    assert.equal((await call(port, 'GET', '/healthz')).body.status, 'ok');
    assert.equal((await call(adminPort, 'GET', '/healthz')).body.status, 'ok');
  } finally {
    for (const p of peers) p.close();
    await stopServe(g);
  }
});
