import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../../src/server/gateway.js';
import { createToken } from '../../src/auth/create-token.js';
import { Client } from '../../src/client/index.js';
import { openPeer, sleep } from '../helpers/ws-peer.js';

const secret = 's3cret';
const base = { host: '127.0.0.1', port: 0, logLevel: 'silent', authSecret: secret } as const;
const inSeconds = (s: number): number => Math.floor(Date.now() / 1000) + s;

/** Waits until the wall clock passes `exp` (seconds) plus `extraMs`; a condition, not a timing assertion. */
async function past(exp: number, extraMs: number): Promise<void> {
  while (Date.now() < exp * 1000 + extraMs) await sleep(100);
}

test('a connection whose token expires is closed with 4001 by the sweep; welcome carries exp', { timeout: 120_000 }, async () => {
  const g = await createGateway(base);
  try {
    const exp = inSeconds(2);
    const p = await openPeer(`ws://127.0.0.1:${g.port}/?token=${createToken(secret, { exp })}`);
    assert.equal(p.frames[0].exp, exp);
    const code = await Promise.race([p.closed, sleep(15_000).then(() => -1)]);
    assert.equal(code, 4001);
    assert.equal(p.closeReason, 'token expired');
    assert.ok(Date.now() >= exp * 1000, 'not before exp');
    assert.equal(g.stats().closed.token_expired, 1);
  } finally {
    await g.close(1000);
  }
});

test('refresh renews the token in place: refreshed with the new exp, new channel list, bad tokens refused', { timeout: 120_000 }, async () => {
  const g = await createGateway(base);
  try {
    const exp = inSeconds(2);
    const p = await openPeer(`ws://127.0.0.1:${g.port}/?token=${createToken(secret, { exp })}`);
    p.send({ type: 'refresh', id: 1, token: createToken('wrong', { exp: inSeconds(3600) }) });
    const bad = await p.next((f) => f.id === 1);
    assert.deepEqual([bad.type, bad.code], ['error', 'FG_ERR_UNAUTHORIZED']);
    p.send({ type: 'refresh', id: 2, token: createToken(secret, { exp: inSeconds(-5) }) });
    assert.match((await p.next((f) => f.id === 2)).message, /expired/);
    const newExp = inSeconds(3600);
    p.send({ type: 'refresh', id: 3, token: createToken(secret, { exp: newExp, channels: ['a:*'] }) });
    assert.deepEqual(await p.next((f) => f.id === 3), { type: 'refreshed', id: 3, exp: newExp });
    p.send({ type: 'publish', id: 4, channel: 'b', data: 1 });
    assert.equal((await p.next((f) => f.id === 4)).code, 'FG_ERR_FORBIDDEN_CHANNEL');
    await past(exp, 2500); // the old exp and at least two sweeps have passed
    p.send({ type: 'publish', id: 5, channel: 'a:x', data: 1 });
    assert.equal((await p.next((f) => f.id === 5)).type, 'published');
    assert.equal(p.closeCode, undefined);
    const s = g.stats();
    assert.deepEqual([s.messages.refreshes, s.messages.refreshFailures, s.closed.token_expired], [1, 2, 0]);
    p.close();
  } finally {
    await g.close(1000);
  }
});

test('refresh on a gateway without tokens is a coded error', { timeout: 120_000 }, async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    assert.equal(p.frames[0].exp, undefined);
    p.send({ type: 'refresh', id: 1, token: 'x' });
    assert.equal((await p.next((f) => f.id === 1)).code, 'FG_ERR_UNAUTHORIZED');
    p.close();
  } finally {
    await g.close(1000);
  }
});

test('the SDK calls its token function before expiry and refreshes without reconnecting', { timeout: 120_000 }, async () => {
  const g = await createGateway(base);
  let calls = 0;
  const firstExp = inSeconds(3);
  const c = new Client(`ws://127.0.0.1:${g.port}/`, {
    token: () => createToken(secret, { exp: calls++ === 0 ? firstExp : inSeconds(3600) }),
    initialDelay: 10, maxDelay: 100, circuitThreshold: 0,
  });
  const refreshed: number[] = [];
  c.on('refreshed', (e) => refreshed.push(e.exp));
  try {
    await c.ready(10_000);
    await past(firstExp, 2500);
    assert.equal(refreshed.length, 1, 'one refresh before the first token expired');
    assert.ok(refreshed[0] > firstExp);
    assert.equal(c.state, 'connected');
    assert.equal(g.stats().closed.token_expired, 0);
    assert.equal(g.stats().admission.admitted, 1, 'no reconnect');
    assert.equal(calls, 2);
  } finally {
    await c.close();
    await g.close(1000);
  }
});
