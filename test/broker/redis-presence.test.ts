import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createToken } from '../../src/auth/create-token.js';
import { openPeer, presence, sleep, subscribe, type Peer } from '../helpers/ws-peer.js';
import { startRedis } from '../helpers/redis-server.js';
import { startGateway } from '../helpers/scale-gateway.js';

// Presence and join/leave across two gateway processes sharing a real redis-server; one of them
// is killed with SIGKILL and its entries must expire while the survivor keeps refreshing its own.

const secret = 'redis-presence';
const TTL_MS = 3000;
const inAnHour = (): number => Math.floor(Date.now() / 1000) + 3600;
const tokenFor = (sub: string): string => createToken(secret, { sub, exp: inAnHour() });

test('Redis: presence and join/leave span nodes; a SIGKILLed node\'s entries expire, a live node refreshes its own', { timeout: 180_000 }, async () => {
  const redis = await startRedis();
  const flags = ['--broker', redis.url, '--auth-secret', secret, '--presence', '--join-leave', '--presence-ttl', `${TTL_MS}ms`];
  const a = await startGateway(0, [...flags, '--node-id', 'node-a']);
  const b = await startGateway(0, [...flags, '--node-id', 'node-b']);
  const peers: Peer[] = [];
  const inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    const alice = await openPeer(`${a.url}?token=${tokenFor('alice')}`);
    peers.push(alice);
    await subscribe(alice, 'room', 1);
    const aliceSince = Date.now();
    const bob = await openPeer(`${b.url}?token=${tokenFor('bob')}`);
    peers.push(bob);
    await subscribe(bob, 'room', 1);
    const bobJoin = await alice.next((f) => f.type === 'join', 15_000);
    assert.deepEqual([bobJoin.channel, bobJoin.sub], ['room', 'bob']);
    assert.match(bobJoin.client, new RegExp(`^node-b/[\\w-]+\\.${bob.frames[0].session}$`));

    // the same answer from either node
    for (const p of [alice, bob]) {
      const f = await presence(p, 'room');
      assert.deepEqual([f.connections, f.users, f.subs], [2, 2, [{ sub: 'alice', connections: 1 }, { sub: 'bob', connections: 1 }]]);
    }
    // leave across nodes
    bob.send({ type: 'unsubscribe', id: 2, channel: 'room' });
    const leave = await alice.next((f) => f.type === 'leave', 15_000);
    assert.equal(leave.client, bobJoin.client);
    assert.equal((await presence(alice, 'room')).connections, 1);
    await subscribe(bob, 'room', 3);
    await alice.count((f) => f.type === 'join', 2, 15_000);
    assert.equal((await presence(alice, 'room')).users, 2);

    // node b dies without closing anything: no leave is sent, its entry must expire
    await b.proc.killNow();
    const deadline = Date.now() + 60_000;
    let last: any;
    do {
      await sleep(250);
      last = await presence(alice, 'room');
    } while (last.users !== 1 && Date.now() < deadline);
    assert.deepEqual(last.subs, [{ sub: 'alice', connections: 1 }], 'bob\'s entry vanished once presenceTtl passed without a refresh');

    // alice's node is alive: after several times the TTL its entry is still there (refreshed)
    while (Date.now() < aliceSince + 3 * TTL_MS) await sleep(200);
    const still = await presence(alice, 'room');
    assert.deepEqual([still.connections, still.subs], [1, [{ sub: 'alice', connections: 1 }]]);

    // the keys hold exactly the live entries and carry an expiry: nothing outlives the entries
    await inspect.connect();
    assert.equal(await inspect.hlen('fg:{room}:ph'), 1);
    const pttl = await inspect.pttl('fg:{room}:pz');
    assert.ok(pttl > 0 && pttl <= TTL_MS, `zset expiry ${pttl} ms`);

    // a graceful stop removes the node's entries at once
    alice.close();
    await a.stop('SIGTERM');
    assert.equal(await inspect.hlen('fg:{room}:ph'), 0);
  } finally {
    for (const p of peers) p.close();
    inspect.disconnect();
    await a.stop('SIGKILL', 2000);
    await b.stop('SIGKILL', 2000);
    await redis.kill();
  }
});

test('Redis: presence asks of one turn share one read, and an ask right after a join sees it', { timeout: 60_000 }, async () => {
  const { RedisBroker } = await import('../../src/broker/redis-broker.js');
  const redis = await startRedis();
  const broker = new RedisBroker({ url: redis.url, limits: { maxCount: 10, maxBytes: 1e6, ttlMs: 0 }, presenceTtlMs: TTL_MS });
  try {
    await broker.start();
    const stored = { store: true, announce: false };
    for (const [client, sub] of [['n/1', 'ann'], ['n/2', 'ann'], ['n/3', '']]) broker.presenceJoin('lobby', { client, sub }, stored);
    const answers = await Promise.all(Array.from({ length: 50 }, () => broker.presence('lobby', 10)));
    for (const a of answers) assert.deepEqual(a, { connections: 3, users: 1, anonymous: 1, subs: [{ sub: 'ann', connections: 2 }], truncated: false });
    assert.equal(broker.stats().redis.presenceReads, 1, '50 asks in one turn, one read');
    broker.presenceLeave('lobby', { client: 'n/3', sub: '' }, stored);
    assert.equal((await broker.presence('lobby', 10)).connections, 2);
    assert.equal(broker.stats().redis.presenceReads, 2);
    assert.equal(broker.stats().presenceEntries, 2);
    // a channel without presence leaves no key behind
    broker.presenceJoin('quiet', { client: 'n/4', sub: 'x' }, { store: false, announce: true });
    await broker.presence('lobby', 10); // a round trip after the join's script
    const inspect = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      assert.equal(await inspect.exists('fg:{quiet}:ph', 'fg:{quiet}:pz'), 0);
    } finally {
      inspect.disconnect();
    }
  } finally {
    await broker.close();
    await redis.kill();
  }
});
