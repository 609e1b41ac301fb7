import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../../src/server/gateway.js';
import { Admission } from '../../src/server/admission.js';
import { openPeer, rawUpgrade, sleep, Peer } from '../helpers/ws-peer.js';

test('cap N with N+k simultaneous clients: N admitted, k get 503 with Retry-After, none time out', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', maxConnections: 20, admissionTimeout: 0, retryAfter: 7 });
  try {
    const answers = await Promise.all(Array.from({ length: 30 }, () => rawUpgradeHold(g.port)));
    const ok = answers.filter((a) => a.status === 101);
    const refused = answers.filter((a) => a.status === 503);
    assert.equal(ok.length, 20);
    assert.equal(refused.length, 10);
    for (const r of refused) {
      assert.equal(r.headers['retry-after'], '7');
      assert.equal(JSON.parse(r.body).code, 'FG_ERR_OVER_CAPACITY');
    }
    const s = g.stats();
    assert.equal(s.connections.current, 20);
    assert.equal(s.admission.rejected.over_capacity, 10);
    assert.equal(s.connections.cap, 20);
    assert.equal(s.connections.capOrigin, 'explicit');
    for (const a of ok) a.close();
  } finally {
    await g.close(1000);
  }
});

test('a waiting upgrade is admitted when a slot frees; one that waits too long gets 503', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', maxConnections: 2, admissionTimeout: 3000 });
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const a = await openPeer(url);
    const b = await openPeer(url);
    const waiting = new Peer(url);
    await waitFor(() => g.stats().connections.waiting === 1);
    a.close();
    await waiting.opened;
    assert.equal(g.stats().admission.admittedAfterWait, 1);
    // now full again: a new one waits the whole admission timeout, then 503
    const g2answer = rawUpgrade(g.port);
    await waitFor(() => g.stats().connections.waiting === 1);
    const answer = await g2answer;
    assert.equal(answer.status, 503);
    assert.equal(g.stats().admission.rejected.admission_timeout, 1);
    b.close();
    waiting.close();
  } finally {
    await g.close(1000);
  }
});

test('a client that leaves while waiting gives up its place', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', maxConnections: 1, admissionTimeout: 5000 });
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const a = await openPeer(url);
    const gone = new Peer(url);
    await waitFor(() => g.stats().connections.waiting === 1);
    gone.close();
    await waitFor(() => g.stats().connections.waiting === 0);
    a.close();
    await waitFor(() => g.stats().connections.current === 0);
    const c = await openPeer(url);
    assert.equal(g.stats().connections.current, 1);
    assert.equal(g.stats().connections.handshaking, 0);
    c.close();
  } finally {
    await g.close(1000);
  }
});

test('Admission bounds handshakes in flight and keeps FIFO order', () => {
  const adm = new Admission({ cap: 10, queueLimit: 5, timeoutMs: 1000, maxPendingHandshakes: 2 });
  const outcomes: string[] = [];
  const cancels = [1, 2, 3, 4].map((i) => adm.request((o) => outcomes.push(`${i}:${o}`)));
  assert.deepEqual(outcomes, ['1:admitted', '2:admitted']);
  assert.equal(adm.waiting, 2);
  adm.handshakeSucceeded();
  adm.handshakeFailed();
  assert.deepEqual(outcomes, ['1:admitted', '2:admitted', '3:admitted', '4:admitted']);
  assert.equal(adm.live, 1);
  assert.equal(adm.handshaking, 2);
  adm.close();
  for (const c of cancels) c();
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await sleep(10);
  }
}

/** Like rawUpgrade but keeps a 101 connection open until close() (so it holds its slot). */
async function rawUpgradeHold(port: number): Promise<{ status: number; headers: Record<string, any>; body: string; close(): void }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path: '/',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.setTimeout(10_000, () => reject(new Error('upgrade timed out')));
    req.on('upgrade', (res, socket) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', close: () => socket.destroy() }));
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, close: () => {} }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('tryAdmit takes a free slot only when nobody waits, and never past the cap or after close', () => {
  const a = new Admission({ cap: 2, queueLimit: 10, timeoutMs: 1000, maxPendingHandshakes: 10 });
  assert.equal(a.tryAdmit(), true);
  assert.equal(a.handshaking, 1);
  a.handshakeSucceeded();
  assert.equal(a.tryAdmit(), true);
  assert.equal(a.tryAdmit(), false); // live 1 + handshaking 1 = cap
  const outcomes: string[] = [];
  a.request((o) => outcomes.push(o)); // waits for a slot
  a.handshakeFailed(); // frees one: it goes to the waiter, not to a later tryAdmit
  assert.deepEqual(outcomes, ['admitted']);
  assert.equal(a.tryAdmit(), false);
  a.connectionClosed();
  a.close();
  assert.equal(a.tryAdmit(), false);
  assert.equal(a.counters.admitted, 3);
});
