// Graceful shutdown as docs/operations.md and docs/protocol.md describe it: upgrades that arrive
// (or wait) while shutting down get 503 FG_ERR_SHUTTING_DOWN, /healthz says 503 shutting_down,
// clients that do not answer their close frame are cut off after shutdownTimeout, and a second
// signal to `floodgate serve` exits at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createGateway } from '../../src/server/gateway.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { openPeer, Peer, rawUpgrade } from '../helpers/ws-peer.js';
import { startGateway } from '../helpers/scale-gateway.js';

const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;

/** A TCP connection that is accepted now and sends its request later. */
async function openRaw(port: number): Promise<{ s: Socket; answer: Promise<string> }> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  let text = '';
  s.on('data', (d) => (text += d.toString()));
  const answer = new Promise<string>((r) => s.once('close', () => r(text)));
  return { s, answer };
}

test('while shutting down: a waiting upgrade and a late one get 503 FG_ERR_SHUTTING_DOWN, /healthz 503', async () => {
  const g = await createGateway({ ...base, maxConnections: 1, admissionTimeout: 30_000, retryAfter: 7, shutdownTimeout: 60_000 });
  let closing: Promise<void> | undefined;
  try {
    // the one slot is taken by a peer that will not answer its close frame, so shutdown lasts
    const holder = await openPeer(`ws://127.0.0.1:${g.port}`);
    const waiting = rawUpgrade(g.port);
    const deadline = Date.now() + 10_000;
    while (g.stats().connections.waiting !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(g.stats().connections.waiting, 1);
    // two connections accepted before the shutdown, whose requests come after it started
    // the HTTP server's side of each connection, to see when it has read what we sent
    const serverSide: Socket[] = [];
    (g as any).server.on('connection', (sock: Socket) => serverSide.push(sock));
    const lateUpgrade = await openRaw(g.port);
    const lateHealth = await openRaw(g.port);
    // a request whose headers are on their way when the shutdown starts (an idle connection is closed)
    const first = 'GET /healthz HTTP/1.1\r\n';
    lateHealth.s.write(first);
    const readBy = Date.now() + 10_000;
    while (!serverSide.some((sock) => sock.bytesRead >= first.length) && Date.now() < readBy) await new Promise((r) => setTimeout(r, 10));
    (holder.ws as any)._socket.pause();
    closing = g.close();
    assert.equal(g.stats().shuttingDown, true);

    const w = await waiting;
    assert.equal(w.status, 503);
    assert.equal(JSON.parse(w.body).code, 'FG_ERR_SHUTTING_DOWN');
    assert.equal(w.headers['retry-after'], '7');

    lateUpgrade.s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    lateHealth.s.write('Host: x\r\nConnection: close\r\n\r\n');
    const up = await lateUpgrade.answer;
    assert.match(up, /^HTTP\/1\.1 503 /);
    assert.match(up, /"code":"FG_ERR_SHUTTING_DOWN"/);
    const health = await lateHealth.answer;
    assert.match(health, /^HTTP\/1\.1 503 /);
    assert.match(health, /"status":"shutting_down"/);
    assert.equal(g.stats().admission.rejected.shutting_down, 2);
    // new connections are refused: the listener is closed
    await assert.rejects(rawUpgrade(g.port), /ECONNREFUSED/);
    holder.close();
  } finally {
    await (closing ?? g.close(1000));
  }
});

test('shutdownTimeout: a client that never answers its 1001 is cut off when the timeout ends, not before', async () => {
  const g = await createGateway({ ...base });
  const polite = await openPeer(`ws://127.0.0.1:${g.port}`);
  const mute = await openPeer(`ws://127.0.0.1:${g.port}`);
  (mute.ws as any)._socket.pause(); // reads nothing, so it never sees or answers the close frame
  const started = Date.now();
  await g.close(800);
  const took = Date.now() - started;
  assert.ok(took >= 790, `close() resolved after ${took} ms, before the 800 ms timeout`);
  assert.equal(await polite.closed, CloseCode.GOING_AWAY);
  (mute.ws as any)._socket.resume();
  // its close frame was sent before the socket was cut: it reads it once it reads again
  assert.equal(await mute.closed, CloseCode.GOING_AWAY);
});

test('floodgate serve: the first SIGTERM drains, a second one exits at once with code 1', async () => {
  const g = await startGateway(0, ['--shutdown-timeout', '60s'], {}, 60_000); // a loaded box starts slowly
  try {
    const mute = await openPeer(g.url);
    (mute.ws as any)._socket.pause(); // keeps the drain waiting for the full 60 s
    process.kill(g.pid, 'SIGTERM');
    const logged = Date.now() + 30_000;
    while (!/"msg":"shutting down"/.test(g.stderr) && Date.now() < logged) await new Promise((r) => setTimeout(r, 25));
    assert.match(g.stderr, /"msg":"shutting down"/);
    assert.equal(g.alive, true, 'still draining after the first signal');
    const started = Date.now();
    process.kill(g.pid, 'SIGTERM');
    const code = await g.exited;
    assert.equal(code, 1);
    assert.match(g.stdout + g.stderr, /second signal: exiting now/);
    assert.ok(Date.now() - started < 30_000, 'did not wait for the 60 s drain');
    mute.close();
  } finally {
    await g.stop('SIGKILL');
  }
});

test('SIGTERM with a keep-alive /healthz poller and a WebSocket connected: exits 0 within shutdownTimeout, logs "gateway stopped"', async () => {
  const gw = await startGateway(0, ['--shutdown-timeout', '2000'], {}, 60_000); // a loaded box starts slowly
  const port = gw.port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let polls = 0;
  let polling = true;
  const poll = (): void => {
    if (!polling) return;
    get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
      res.resume();
      res.on('end', () => {
        polls++;
        setTimeout(poll, 50);
      });
    }).on('error', () => setTimeout(poll, 50));
  };
  const peer = new Peer(`ws://127.0.0.1:${port}/`);
  try {
    await peer.opened;
    poll();
    const deadline = Date.now() + 10_000;
    while (polls < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(polls >= 3, 'the poller is running on a kept-alive connection');
    const t0 = Date.now();
    const code = await gw.stop('SIGTERM', 20_000);
    const took = Date.now() - t0;
    assert.equal(code, 0, gw.stderr.slice(-2000));
    assert.match(gw.stderr + gw.stdout, /gateway stopped/);
    assert.equal(peer.closeCode ?? (await peer.closed), 1001);
    console.log(`# SIGTERM → exit 0 in ${took} ms (shutdownTimeout 2000 ms), ${polls} polls`);
  } finally {
    polling = false;
    agent.destroy();
    peer.ws.terminate();
    await gw.stop('SIGKILL');
  }
});
