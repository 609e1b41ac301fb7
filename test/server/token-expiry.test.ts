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

test('refresh revalidates the subscriptions: those the new token no longer allows end with an unsubscribed frame carrying FG_ERR_FORBIDDEN_CHANNEL', { timeout: 30_000 }, async () => {
  const g = await createGateway(base);
  try {
    const url = `ws://127.0.0.1:${g.port}/?token=`;
    const p = await openPeer(url + createToken(secret, { exp: inSeconds(3600), channels: ['a:*', 'b:*'] }));
    const pub = await openPeer(url + createToken(secret, { exp: inSeconds(3600) }));
    p.send({ type: 'subscribe', id: 1, channel: 'a:1' });
    p.send({ type: 'subscribe', id: 2, channel: 'b:1' });
    await p.count((f) => f.type === 'subscribed', 2);
    // the refresh, and a subscribe sent before its answer (checked against the token of the moment)
    p.send({ type: 'refresh', id: 3, token: createToken(secret, { exp: inSeconds(7200), channels: ['a:*'] }) });
    p.send({ type: 'subscribe', id: 4, channel: 'b:2' });
    const seen = await p.count((f) => f.type === 'refreshed' || (f.type === 'unsubscribed' && f.id === undefined) || f.id === 4, 4);
    assert.deepEqual(seen.map((f) => [f.type, f.id, f.channel, f.code]), [
      ['refreshed', 3, undefined, undefined],
      ['unsubscribed', undefined, 'b:1', 'FG_ERR_FORBIDDEN_CHANNEL'],
      ['subscribed', 4, 'b:2', undefined], // every request is answered, then the revocation follows
      ['unsubscribed', undefined, 'b:2', 'FG_ERR_FORBIDDEN_CHANNEL'],
    ]);
    assert.match(seen[1].message, /refreshed token does not allow channel b:1/);
    // b:* no longer reaches this connection; a:* still does
    pub.send({ type: 'publish', id: 1, channel: 'b:1', data: 'no' });
    pub.send({ type: 'publish', id: 2, channel: 'a:1', data: 'yes' });
    await pub.count((f) => f.type === 'published', 2);
    const msg = await p.next((f) => f.type === 'message');
    assert.deepEqual([msg.channel, msg.data], ['a:1', 'yes']);
    assert.equal(p.frames.filter((f) => f.type === 'message').length, 1);
    assert.deepEqual(g.stats().channels.local, 1, 'b:1 and b:2 were left: only a:1 is held');
    p.send({ type: 'unsubscribe', id: 5, channel: 'b:1' });
    assert.equal((await p.next((f) => f.id === 5)).code, 'FG_ERR_NOT_SUBSCRIBED');
    p.close();
    pub.close();
  } finally {
    await g.close(1000);
  }
});

test('the SDK drops a subscription the refreshed token revokes, tells its owner, and keeps the others', { timeout: 30_000 }, async () => {
  const g = await createGateway(base);
  let calls = 0;
  const firstExp = inSeconds(3);
  const c = new Client(`ws://127.0.0.1:${g.port}/`, {
    token: () => (calls++ === 0 ? createToken(secret, { exp: firstExp, channels: ['a:*', 'b:*'] }) : createToken(secret, { exp: inSeconds(3600), channels: ['a:*'] })),
    initialDelay: 10, maxDelay: 100, circuitThreshold: 0,
  });
  const errors: string[] = [];
  c.on('error', (e) => errors.push(`${e.code} ${(e as any).details?.channel}`));
  try {
    await c.ready(10_000);
    const a = c.subscribe('a:x');
    const b = c.subscribe('b:x');
    const bErrors: string[] = [];
    b.on('error', (e) => bErrors.push(e.code));
    const deadline = Date.now() + 20_000;
    while ((a.state !== 'subscribed' || b.state !== 'subscribed') && Date.now() < deadline) await sleep(20);
    while (b.state !== 'unsubscribed' && Date.now() < deadline) await sleep(50);
    assert.equal(b.state, 'unsubscribed');
    assert.deepEqual(bErrors, ['FG_ERR_FORBIDDEN_CHANNEL']);
    assert.deepEqual(errors, ['FG_ERR_FORBIDDEN_CHANNEL b:x']);
    assert.equal(c.getSubscription('b:x'), undefined, 'not asked for again after a reconnect');
    assert.equal(a.state, 'subscribed');
    assert.equal(c.state, 'connected');
    assert.equal(g.stats().admission.admitted, 1, 'no reconnect');
  } finally {
    await c.close();
    await g.close(1000);
  }
});

test('refresh keeps the connection\'s user: a token of another sub (or none, or one where there was none) is refused and the old token stays', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base, presence: true });
  try {
    const url = `ws://127.0.0.1:${g.port}/?token=`;
    const alice = await openPeer(url + createToken(secret, { exp: inSeconds(3600), sub: 'alice' }));
    alice.send({ type: 'subscribe', id: 1, channel: 'room' });
    await alice.next((f) => f.id === 1);
    const cases: [number, Record<string, unknown>][] = [[2, { sub: 'mallory' }], [3, {}], [4, { sub: '' }], [5, { sub: 'Alice' }]];
    for (const [id, claims] of cases) {
      alice.send({ type: 'refresh', id, token: createToken(secret, { exp: inSeconds(7200), ...claims }) });
      const err = await alice.next((f) => f.id === id);
      assert.deepEqual([err.type, err.code], ['error', 'FG_ERR_UNAUTHORIZED'], JSON.stringify(claims));
      assert.match(err.message, /sub/);
    }
    const same = inSeconds(7200);
    alice.send({ type: 'refresh', id: 6, token: createToken(secret, { exp: same, sub: 'alice' }) });
    assert.deepEqual(await alice.next((f) => f.id === 6), { type: 'refreshed', id: 6, exp: same });
    // presence and POST /api/disconnect go on naming alice
    alice.send({ type: 'presence', id: 7, channel: 'room' });
    assert.deepEqual((await alice.next((f) => f.id === 7)).subs, [{ sub: 'alice', connections: 1 }]);
    // an anonymous connection stays anonymous
    const anon = await openPeer(url + createToken(secret, { exp: inSeconds(3600) }));
    anon.send({ type: 'refresh', id: 1, token: createToken(secret, { exp: inSeconds(7200), sub: 'alice' }) });
    assert.equal((await anon.next((f) => f.id === 1)).code, 'FG_ERR_UNAUTHORIZED');
    anon.send({ type: 'refresh', id: 2, token: createToken(secret, { exp: inSeconds(7200) }) });
    assert.equal((await anon.next((f) => f.id === 2)).type, 'refreshed');
    assert.deepEqual([g.stats().messages.refreshes, g.stats().messages.refreshFailures], [2, 5]);
    alice.close();
    anon.close();
  } finally {
    await g.close(1000);
  }
});

test('a token the upgrade accepts can be refreshed: 10 KB tokens (refresh took at most 8,192 characters, the upgrade 16 KiB)', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base, maxPayload: '64KB' });
  try {
    const big = (exp: number) => createToken(secret, { exp, sub: 'alice', pad: 'p'.repeat(7000) });
    const first = big(inSeconds(3600));
    assert.ok(first.length > 9000 && first.length < 16_000, String(first.length));
    const p = await openPeer(`ws://127.0.0.1:${g.port}/`, { headers: { authorization: `Bearer ${first}` } });
    const exp = inSeconds(7200);
    p.send({ type: 'refresh', id: 1, token: big(exp) });
    assert.deepEqual(await p.next((f) => f.id === 1), { type: 'refreshed', id: 1, exp });
    p.send({ type: 'refresh', id: 2, token: 'x'.repeat(16_385) });
    const err = await p.next((f) => f.id === 2);
    assert.deepEqual([err.type, err.code], ['error', 'FG_ERR_BAD_FRAME']);
    p.close();
  } finally {
    await g.close(1000);
  }
});
