import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway, type Gateway } from '../../src/server/gateway.js';
import { createToken } from '../../src/auth/create-token.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { openPeer, sleep, type Peer } from '../helpers/ws-peer.js';

// Presence and join/leave against a real gateway (memory broker) with real `ws` clients.

const secret = 'presence-secret';
const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;
const inAnHour = (): number => Math.floor(Date.now() / 1000) + 3600;

function url(g: Gateway, sub?: string, channels?: string[]): string {
  if (sub === undefined) return `ws://127.0.0.1:${g.port}`;
  const claims = channels === undefined ? { sub, exp: inAnHour() } : { sub, exp: inAnHour(), channels };
  return `ws://127.0.0.1:${g.port}/?token=${createToken(secret, claims)}`;
}

async function subscribed(p: Peer, channel: string, id = 1): Promise<void> {
  p.send({ type: 'subscribe', id, channel });
  const f = await p.next((x) => x.id === id);
  assert.equal(f.type, 'subscribed', JSON.stringify(f));
}

async function ask(p: Peer, channel: string, id: number): Promise<any> {
  p.send({ type: 'presence', id, channel });
  return p.next((f) => f.id === id);
}

/** The connection's id in join/leave frames: node name, the gateway's random tag, session id. */
function clientId(g: Gateway, p: Peer): string {
  const prefix: string = (g as any).ctx.clientPrefix;
  assert.match(prefix, new RegExp(`^${g.node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[\\w-]+\\.$`));
  return prefix + p.frames[0].session;
}

function presenceEntries(g: Gateway): number | undefined {
  return g.broker.stats().presenceEntries;
}

/** Waits (bounded) for a condition the gateway reaches asynchronously, e.g. after a socket close. */
async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

test('presence counts connections and distinct subs, lists them sorted; join/leave reach the other subscribers', { timeout: 30_000 }, async () => {
  const g = await createGateway({ ...base, authSecret: secret, presence: true, joinLeave: true });
  try {
    const alice1 = await openPeer(url(g, 'alice'));
    await subscribed(alice1, 'room');
    const bob = await openPeer(url(g, 'bob'));
    const bobId = clientId(g, bob);
    await subscribed(bob, 'room');
    assert.deepEqual(await alice1.next((f) => f.type === 'join'), { type: 'join', channel: 'room', client: bobId, sub: 'bob' });
    const alice2 = await openPeer(url(g, 'alice'));
    await subscribed(alice2, 'room');
    await bob.next((f) => f.type === 'join' && f.sub === 'alice');
    await alice1.count((f) => f.type === 'join', 2);

    const answer = await ask(bob, 'room', 7);
    assert.deepEqual(answer, {
      type: 'presence', id: 7, channel: 'room', connections: 3, users: 2, anonymous: 0,
      subs: [{ sub: 'alice', connections: 2 }, { sub: 'bob', connections: 1 }], truncated: false,
    });
    // nobody hears about itself: the answer to its subscribe is its join
    assert.equal(bob.frames.filter((f) => f.type === 'join' && f.client === bobId).length, 0);
    assert.equal(alice2.frames.filter((f) => f.type === 'join').length, 0);

    alice2.send({ type: 'unsubscribe', id: 2, channel: 'room' });
    await alice2.next((f) => f.id === 2 && f.type === 'unsubscribed');
    const leave = await bob.next((f) => f.type === 'leave');
    assert.equal(leave.sub, 'alice');
    assert.equal(leave.client, clientId(g, alice2));
    bob.close(); // a dropped connection leaves every channel it held
    await alice1.next((f) => f.type === 'leave' && f.sub === 'bob');
    assert.deepEqual(await ask(alice1, 'room', 8), {
      type: 'presence', id: 8, channel: 'room', connections: 1, users: 1, anonymous: 0, subs: [{ sub: 'alice', connections: 1 }], truncated: false,
    });
    assert.equal(g.stats().messages.presenceRequests, 2);
    const metrics = await (await fetch(`http://127.0.0.1:${g.port}/metrics`)).text();
    assert.match(metrics, /^floodgate_presence_requests_total 2$/m);
    assert.match(metrics, /^floodgate_presence_failures_total 0$/m);
    alice1.close();
    alice2.close();
    await until(() => presenceEntries(g) === 0, 'entries removed after the last connection closed');
  } finally {
    await g.close(1000);
  }
});

test('presence is answered to subscribers only, as coded errors otherwise', { timeout: 30_000 }, async () => {
  const g = await createGateway({ ...base, authSecret: secret, presence: true });
  try {
    const carol = await openPeer(url(g, 'carol'));
    const notSubscribed = await ask(carol, 'room', 1);
    assert.deepEqual([notSubscribed.type, notSubscribed.code, notSubscribed.channel], ['error', 'FG_ERR_NOT_SUBSCRIBED', 'room']);
    const limited = await openPeer(url(g, 'dave', ['other']));
    assert.equal((await ask(limited, 'room', 2)).code, 'FG_ERR_FORBIDDEN_CHANNEL');
    // right after subscribe, before its answer could be read: still not answered to
    carol.send({ type: 'subscribe', id: 3, channel: 'room' });
    carol.send({ type: 'presence', id: 4, channel: 'room' });
    const [sub, early] = [await carol.next((f) => f.id === 3), await carol.next((f) => f.id === 4)];
    assert.equal(sub.type, 'subscribed');
    assert.equal(early.code, 'FG_ERR_NOT_SUBSCRIBED');
    assert.equal((await ask(carol, 'room', 5)).connections, 1);
    // a malformed presence frame is a coded error like any other frame's
    carol.send({ type: 'presence', id: 6, channel: 'bad channel' });
    assert.equal((await carol.next((f) => f.id === 6)).code, 'FG_ERR_BAD_CHANNEL');
    carol.send({ type: 'presence', id: 7 });
    assert.equal((await carol.next((f) => f.id === 7)).code, 'FG_ERR_BAD_FRAME');
    carol.close();
    limited.close();
  } finally {
    await g.close(1000);
  }
});

test('with presence and joinLeave off (the default) nothing is recorded or announced and presence is refused', { timeout: 30_000 }, async () => {
  const g = await createGateway(base);
  try {
    const a = await openPeer(url(g));
    await subscribed(a, 'room');
    const b = await openPeer(url(g));
    await subscribed(b, 'room');
    assert.equal(presenceEntries(g), 0);
    const off = await ask(a, 'room', 9);
    assert.deepEqual([off.type, off.code], ['error', 'FG_ERR_PRESENCE_OFF']);
    b.close();
    a.send({ type: 'ping', id: 10 });
    await a.next((f) => f.id === 10);
    assert.equal(a.frames.filter((f) => f.type === 'join' || f.type === 'leave').length, 0);
    a.close();
  } finally {
    await g.close(1000);
  }
});

test('anonymous connections are counted, not listed; their join/leave carry no sub; joinLeave works without presence', { timeout: 30_000 }, async () => {
  const g = await createGateway({ ...base, presence: true, joinLeave: true });
  const h = await createGateway({ ...base, joinLeave: true });
  try {
    const a = await openPeer(url(g));
    await subscribed(a, 'lobby');
    const b = await openPeer(url(g));
    await subscribed(b, 'lobby');
    const join = await a.next((f) => f.type === 'join');
    assert.equal('sub' in join, false);
    assert.deepEqual(await ask(b, 'lobby', 2), { type: 'presence', id: 2, channel: 'lobby', connections: 2, users: 0, anonymous: 2, subs: [], truncated: false });
    a.close();
    b.close();

    const c = await openPeer(url(h));
    await subscribed(c, 'lobby');
    const d = await openPeer(url(h));
    await subscribed(d, 'lobby');
    await c.next((f) => f.type === 'join');
    assert.equal((await ask(c, 'lobby', 3)).code, 'FG_ERR_PRESENCE_OFF');
    assert.equal(presenceEntries(h), 0, 'join/leave alone records nothing');
    d.close();
    await c.next((f) => f.type === 'leave');
    c.close();
  } finally {
    await Promise.all([g.close(1000), h.close(1000)]);
  }
});

test('the list stops at presenceLimit and says truncated; the counts cover everyone', { timeout: 30_000 }, async () => {
  const g = await createGateway({ ...base, authSecret: secret, presence: true, presenceLimit: 2 });
  try {
    const peers: Peer[] = [];
    for (const sub of ['dan', 'ann', 'cy', 'bo']) {
      const p = await openPeer(url(g, sub));
      await subscribed(p, 'big');
      peers.push(p);
    }
    const answer = await ask(peers[0], 'big', 5);
    assert.deepEqual(answer.subs, [{ sub: 'ann', connections: 1 }, { sub: 'bo', connections: 1 }]);
    assert.deepEqual([answer.users, answer.connections, answer.truncated], [4, 4, true]);
    for (const p of peers) p.close();
    await until(() => presenceEntries(g) === 0, 'entries removed');
  } finally {
    await g.close(1000);
  }
});

test('a slow consumer closed with 4008 leaves presence, and the others get its leave', { timeout: 60_000 }, async () => {
  const g = await createGateway({
    ...base, authSecret: secret, presence: true, joinLeave: true,
    maxBufferedBytes: 64 * 1024, slowConsumerChecks: 1, rateBurst: 100000, rateRefill: 100000, historySize: 10,
  });
  try {
    const slow = await openPeer(url(g, 'slow'));
    await subscribed(slow, 'firehose');
    const watcher = await openPeer(url(g, 'watcher'));
    await subscribed(watcher, 'firehose');
    assert.equal((await ask(watcher, 'firehose', 2)).connections, 2);
    (slow.ws as any)._socket.pause();
    const pub = await openPeer(url(g, 'pub'));
    const payload = 'z'.repeat(8000);
    const deadline = Date.now() + 30_000;
    while (g.stats().closed.slow_consumer === 0 && Date.now() < deadline) {
      for (let i = 0; i < 50; i++) pub.send({ type: 'publish', channel: 'firehose', data: payload });
      await sleep(20);
    }
    assert.equal(g.stats().closed.slow_consumer, 1);
    (slow.ws as any)._socket.resume();
    assert.equal(await slow.closed, CloseCode.SLOW_CONSUMER);
    await watcher.next((f) => f.type === 'leave' && f.sub === 'slow', 10_000);
    const after = await ask(watcher, 'firehose', 3);
    assert.deepEqual([after.connections, after.subs], [1, [{ sub: 'watcher', connections: 1 }]]);
    watcher.close();
    pub.close();
    await until(() => presenceEntries(g) === 0, 'entries removed');
  } finally {
    await g.close(1000);
  }
});

test('presence settings are validated at startup: the message names the setting and its accepted range', { timeout: 30_000 }, async () => {
  const refused = async (options: Record<string, unknown>): Promise<string> => {
    try {
      const g = await createGateway({ ...base, ...options } as any);
      await g.close(0);
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'FG_ERR_INVALID_CONFIG');
      return (err as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(options)}`);
  };
  assert.match(await refused({ presence: 'maybe' }), /`presence`.*true or false/s);
  assert.match(await refused({ joinLeave: 2 }), /`joinLeave`.*true or false/s);
  assert.match(await refused({ presenceLimit: 0 }), /`presenceLimit`.*from 1 to 100000/s);
  assert.match(await refused({ presenceTtl: '1s' }), /`presenceTtl`.*from 3s to 1h/s);
});

test('channel namespaces turn presence and join/leave on per prefix; other channels keep the top-level defaults', { timeout: 30_000 }, async () => {
  const g = await createGateway({ ...base, namespaces: { 'chat:': { presence: true, joinLeave: true } } } as any);
  try {
    const a = await openPeer(url(g));
    const b = await openPeer(url(g));
    for (const p of [a, b]) {
      await subscribed(p, 'chat:1', 1);
      await subscribed(p, 'news', 2);
    }
    await a.next((f) => f.type === 'join' && f.channel === 'chat:1');
    assert.equal((await ask(a, 'chat:1', 3)).connections, 2);
    assert.equal((await ask(a, 'news', 4)).code, 'FG_ERR_PRESENCE_OFF');
    assert.equal(a.frames.filter((f) => f.type === 'join' && f.channel === 'news').length, 0);
    assert.equal(presenceEntries(g), 2, 'entries for chat:1 only');
    a.close();
    b.close();
  } finally {
    await g.close(1000);
  }
});
