import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import type { HistoryLimits } from '../../src/server/history.js';
import { FloodgateError } from '../../src/errors.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { createGateway } from '../../src/server/gateway.js';
import { openPeer } from '../helpers/ws-peer.js';

// historyMemory and maxChannels on the Redis broker, against a real redis-server on a free port
let redis: RedisServer;
let probe: Redis;
const brokers: RedisBroker[] = [];
const KB = 'x'.repeat(1000);

before(async () => {
  redis = await startRedis();
  probe = new Redis(redis.url);
});
after(async () => {
  await Promise.all(brokers.map((b) => b.close()));
  probe.disconnect();
  await redis.kill();
});

type Budget = { historyMemory: number; maxChannels: number; maxIdempotencyKeys?: number; idempotencyWindowMs?: number };

async function node(prefix: string, budget: Budget, limits: Partial<HistoryLimits> | ((c: string) => HistoryLimits) = {}): Promise<RedisBroker> {
  const policy = typeof limits === 'function' ? limits : { maxCount: 100, maxBytes: 1 << 20, ttlMs: 0, ...limits };
  const broker = new RedisBroker({ url: redis.url, prefix, limits: policy, ...budget });
  brokers.push(broker);
  await broker.start();
  return broker;
}

/** What the budget keys say, checked against the streams themselves. */
async function ledger(prefix: string): Promise<{ total: number; channels: string[]; sumOfSizes: number; streamBytes: number }> {
  const total = Number((await probe.get(`${prefix}budget:total`)) ?? 0);
  const channels = await probe.zrange(`${prefix}budget:lru`, 0, -1);
  const sizes = await probe.hgetall(`${prefix}budget:bytes`);
  let streamBytes = 0;
  for (const c of channels) {
    for (const [, fields] of await probe.xrange(`${prefix}{${c}}:s`, '-', '+')) streamBytes += Buffer.byteLength(fields[1]);
  }
  return { total, channels, sumOfSizes: Object.values(sizes).reduce((a, v) => a + Number(v), 0), streamBytes };
}

test('redis historyMemory: past the budget the least recently published streams are deleted, and their recovery says history_gone', { timeout: 60_000 }, async () => {
  const b = await node('hm:', { historyMemory: 20_000, maxChannels: 0 });
  const first = await b.publish('c0', KB);
  for (let i = 1; i < 40; i++) await b.publish(`c${i}`, KB);
  const l = await ledger('hm:');
  assert.ok(l.total <= 20_000 && l.total > 15_000, `history ${l.total} B against the 20,000 B budget`);
  assert.equal(l.total, l.sumOfSizes, 'the total is the sum of the channels counted');
  assert.equal(l.total, l.streamBytes, 'and exactly the bytes in their streams');
  assert.equal(await probe.exists('hm:{c0}:s'), 0, 'the oldest stream is gone');
  assert.equal(await probe.exists('hm:{c0}:m'), 1, 'its epoch and offset are kept');
  const st = b.stats();
  assert.ok(st.historyEvictions! >= 20, `${st.historyEvictions} evictions`);
  assert.equal(st.historyBytes, l.total);
  const gone = await b.recover('c0', { epoch: first.epoch, offset: 0 });
  assert.deepEqual([gone.ok, !gone.ok && gone.reason], [false, 'history_gone']);
  assert.deepEqual([gone.epoch, gone.offset], [first.epoch, 1], 'with the channel\'s current position');
  // no age bound (ttl 0): a kept channel's epoch never expires; an evicted one's gets the meta ttl
  assert.equal(await probe.pttl('hm:{c39}:m'), -1);
  const evictedTtl = await probe.pttl('hm:{c0}:m');
  assert.ok(evictedTtl > 0 && evictedTtl <= 24 * 3600_000, `evicted channel's hash expires (pttl ${evictedTtl})`);
  const c39 = await b.recover('c39');
  const recent = await b.recover('c39', { epoch: c39.epoch, offset: 0 });
  assert.ok(recent.ok && recent.publications.length === 1);
  // a channel published to again goes back to the end of the line, and its stream is counted anew
  const again = await b.publish('c0', KB);
  assert.equal(again.offset, 2, 'the offset went on');
  const after0 = await ledger('hm:');
  assert.equal(after0.total, after0.streamBytes);
  assert.equal(after0.channels.at(-1), 'c0');
});

test('redis history bytes are counted exactly through count trimming and age expiry', { timeout: 60_000 }, async () => {
  const b = await node('tr:', { historyMemory: 1 << 30, maxChannels: 0 }, { maxCount: 3 });
  for (let i = 0; i < 10; i++) await b.publish('t', { i, pad: 'y'.repeat(i * 50) });
  let l = await ledger('tr:');
  assert.equal(await probe.xlen('tr:{t}:s'), 3);
  assert.equal(l.total, l.streamBytes, 'trimmed entries left the total');
  // a stream that expires on its own (idle past the ttl) is forgotten by the next publish
  const ttl = await node('ex:', { historyMemory: 1 << 30, maxChannels: 0 }, { ttlMs: 300 });
  for (const c of ['a', 'b', 'c']) await ttl.publish(c, KB);
  const deadline = Date.now() + 20_000;
  while ((await probe.exists('ex:{a}:s', 'ex:{b}:s', 'ex:{c}:s')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await ttl.publish('d', KB);
  l = await ledger('ex:');
  assert.deepEqual(l.channels, ['d']);
  assert.equal(l.total, l.streamBytes);
});

test('redis maxChannels: a publish that would add one more channel with history is refused with a code, on every node', { timeout: 60_000 }, async () => {
  const a = await node('mc:', { historyMemory: 0, maxChannels: 3 });
  const b = await node('mc:', { historyMemory: 0, maxChannels: 3 });
  await a.publish('one', 1);
  await b.publish('two', 1);
  await a.publish('three', 1);
  await assert.rejects(b.publish('four', 1), (e: FloodgateError) => e.code === 'FG_ERR_TOO_MANY_CHANNELS' && /maxChannels 3/.test(e.message));
  await assert.rejects(a.publish('five', 1), (e: FloodgateError) => e.code === 'FG_ERR_TOO_MANY_CHANNELS');
  assert.equal((await b.publish('two', 2)).offset, 2, 'channels already held still work');
  assert.equal(await probe.exists('mc:{four}:m'), 0, 'the refused publish left nothing behind');
  assert.equal(a.stats().channelsRefused, 1);
  assert.equal(b.stats().channelsRefused, 1);
});

test('redis historyMemory: subscribing and recovering count as use: a channel clients recover from outlives one nobody reads', { timeout: 60_000 }, async () => {
  const b = await node('use:', { historyMemory: 20_000, maxChannels: 0 });
  const pos: Record<string, { epoch: string; offset: number }> = {};
  for (let i = 0; i < 40; i++) pos[`c${i}`] = await b.publish(`c${i}`, KB);
  // ~18 channels fit (c22–c39); c25 and c26 are both near the old end of the line
  assert.ok((await b.recover('c25', { epoch: pos.c25.epoch, offset: 0 })).ok);
  assert.equal((await probe.zrange('use:budget:lru', -1, -1))[0], 'c25', 'the recovery moved c25 to the recent end');
  for (let i = 40; i < 50; i++) await b.publish(`c${i}`, KB);
  const kept = await b.recover('c25', { epoch: pos.c25.epoch, offset: 0 });
  assert.ok(kept.ok && kept.publications.length === 1, 'the channel read from kept its history');
  const gone = await b.recover('c26', { epoch: pos.c26.epoch, offset: 0 });
  assert.deepEqual(gone, { ok: false, epoch: pos.c26.epoch, offset: 1, reason: 'history_gone' }, 'the idle one lost it, and is told so with its position');
  assert.equal(await probe.exists('use:{c26}:s'), 0);
  // a channel without a stream is not added to the budget by reading it
  await b.recover('never-published');
  assert.equal(await probe.zscore('use:budget:lru', 'never-published'), null);
  const l = await ledger('use:');
  assert.equal(l.total, l.streamBytes);
});

test('redis budget: each stream leaves the count at its own historyTtl (namespaces with different ttls)', { timeout: 60_000 }, async () => {
  const limits = (c: string): HistoryLimits => ({ maxCount: 100, maxBytes: 1 << 20, ttlMs: c.startsWith('long:') ? 600_000 : 300 });
  const b = await node('ns:', { historyMemory: 1 << 30, maxChannels: 0 }, limits);
  await b.publish('long:a', KB);
  await b.publish('short', KB);
  const deadline = Date.now() + 20_000;
  while ((await probe.exists('ns:{short}:s')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await probe.exists('ns:{short}:s'), 0, 'the short stream expired');
  await b.publish('other', KB); // a short-ttl publish must not forget the long stream, which still holds bytes
  const l = await ledger('ns:');
  assert.deepEqual(l.channels.sort(), ['long:a', 'other']);
  assert.equal(l.total, l.streamBytes, 'the total is what the streams hold');
});

/** Live idempotency and publisher-seq keys under a prefix, by SCAN. */
async function guardKeys(prefix: string): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [next, keys] = await probe.scan(cursor, 'MATCH', `${prefix}{*}:[iq]:*`, 'COUNT', 1000);
    n += keys.length;
    cursor = next;
  } while (cursor !== '0');
  return n;
}

test('redis maxIdempotencyKeys: keys and publisher seqs are counted over all channels and nodes; one past the cap is refused, nothing written', { timeout: 60_000 }, async () => {
  const a = await node('ik:', { historyMemory: 0, maxChannels: 0, maxIdempotencyKeys: 6, idempotencyWindowMs: 60_000 });
  const b = await node('ik:', { historyMemory: 0, maxChannels: 0, maxIdempotencyKeys: 6, idempotencyWindowMs: 60_000 });
  for (let i = 0; i < 4; i++) await (i % 2 ? a : b).publish(`k${i % 3}`, i, { idempotencyKey: `key-${i}` });
  await a.publish('p', 'x', { idempotencyKey: 'p-1', publisher: 'pub', seq: 1 }); // two entries: 6 held
  assert.equal(await probe.zcard('ik:budget:guard'), 6);
  assert.equal(await guardKeys('ik:'), 6);
  const before = await probe.hget('ik:{k0}:m', 'o');
  await assert.rejects(b.publish('k0', 'new', { idempotencyKey: 'one-too-many' }), (e: FloodgateError) =>
    e.code === 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS' && /maxIdempotencyKeys 6/.test(e.message));
  await assert.rejects(a.publish('p', 'y', { publisher: 'another', seq: 1 }), (e: FloodgateError) => e.code === 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS', 'a new publisher too');
  assert.equal(await probe.hget('ik:{k0}:m', 'o'), before, 'the refused publish was not published');
  assert.equal(await probe.exists('ik:{k0}:i:one-too-many'), 0, 'nor remembered');
  // what adds nothing goes on: no key, a duplicate, the next seq of a known publisher
  assert.ok((await b.publish('k0', 'plain')).offset > 0);
  assert.equal((await b.publish('k0', 0, { idempotencyKey: 'key-0' })).duplicate, true);
  assert.equal((await a.publish('p', 'z', { publisher: 'pub', seq: 2 })).offset, 2);
  assert.equal(await probe.zcard('ik:budget:guard'), 6);
  assert.deepEqual([a.stats().idempotencyRefused, b.stats().idempotencyRefused, a.stats().maxIdempotencyKeys], [1, 1, 6]);
});

test('redis maxIdempotencyKeys: entries past the window leave the count, and new keys are taken again', { timeout: 60_000 }, async () => {
  const b = await node('iw:', { historyMemory: 0, maxChannels: 0, maxIdempotencyKeys: 3, idempotencyWindowMs: 300 });
  for (let i = 0; i < 3; i++) await b.publish('c', i, { idempotencyKey: `old-${i}` });
  await assert.rejects(b.publish('c', 3, { idempotencyKey: 'new-0' }), (e: FloodgateError) => e.code === 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS');
  const deadline = Date.now() + 20_000;
  while ((await guardKeys('iw:')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await guardKeys('iw:'), 0, 'the keys expired in Redis');
  for (let i = 0; i < 3; i++) await b.publish('c', i, { idempotencyKey: `new-${i}` });
  assert.equal(await probe.zcard('iw:budget:guard'), 3, 'the expired ones left the count');
});

test('redis maxIdempotencyKeys 0: no cap and no guard key', { timeout: 60_000 }, async () => {
  const b = await node('i0:', { historyMemory: 0, maxChannels: 0, maxIdempotencyKeys: 0, idempotencyWindowMs: 60_000 });
  for (let i = 0; i < 20; i++) await b.publish('c', i, { idempotencyKey: `k${i}` });
  assert.equal(await guardKeys('i0:'), 20);
  assert.equal(await probe.exists('i0:budget:guard'), 0);
});

test('redis: subscribes to ever new channel names leave nothing lasting in Redis; a watched empty channel keeps its epoch', { timeout: 60_000 }, async () => {
  const b = new RedisBroker({ url: redis.url, prefix: 'sf:', limits: { maxCount: 100, maxBytes: 1 << 20, ttlMs: 0 }, emptyChannelTtlMs: 1500 });
  brokers.push(b);
  const gaps: string[] = [];
  const got: number[] = [];
  b.onGap = (c) => gaps.push(c);
  b.onPublication = (p) => got.push(p.offset);
  await b.start();
  b.watch('kept');
  const kept = await b.recover('kept');
  // a subscribe storm over 300 names nobody publishes to (historyTtl 0: the hash of a published channel never expires)
  await Promise.all(Array.from({ length: 300 }, (_, i) => b.recover(`storm-${i}`)));
  assert.equal(await probe.exists('sf:{storm-0}:m'), 1);
  const pttl = await probe.pttl('sf:{storm-0}:m');
  assert.ok(pttl > 0 && pttl <= 1500, `an empty channel's hash expires (pttl ${pttl})`);
  const deadline = Date.now() + 30_000;
  while ((await probe.exists('sf:{storm-0}:m', 'sf:{storm-299}:m')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await probe.exists('sf:{storm-0}:m', 'sf:{storm-299}:m'), 0, 'the storm left no hash behind');
  assert.equal(await probe.exists('sf:{kept}:m'), 1, 'the watched one was kept alive');
  const pub = await b.publish('kept', 'first');
  assert.deepEqual([pub.epoch, pub.offset], [kept.epoch, 1], 'same epoch: its subscribers see no break');
  assert.equal(await probe.pttl('sf:{kept}:m'), -1, 'published to (no age bound): the hash no longer expires');
  const until = Date.now() + 20_000;
  while (got.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, [1]);
  assert.deepEqual(gaps, []);
});

test('two gateways on one Redis, over the wire: an evicted channel answers recovered:false, history_gone with its position; the key cap holds across nodes', { timeout: 120_000 }, async () => {
  const common = { host: '127.0.0.1', port: 0, logLevel: 'silent', broker: redis.url, historyMemory: 20_000, maxIdempotencyKeys: 2, historyTtl: 0 } as const;
  const [ga, gb] = [await createGateway(common), await createGateway(common)];
  const [a, b] = [await openPeer(`ws://127.0.0.1:${ga.port}`), await openPeer(`ws://127.0.0.1:${gb.port}`)];
  try {
    await probe.del('fg:budget:lru', 'fg:budget:bytes', 'fg:budget:total', 'fg:budget:exp', 'fg:budget:guard');
    a.send({ type: 'publish', id: 1, channel: 'wire-old', data: KB });
    const first = await a.next((f) => f.id === 1, 20_000);
    for (let i = 0; i < 40; i++) a.send({ type: 'publish', id: 100 + i, channel: `wire-${i}`, data: KB });
    await a.count((f) => f.id >= 100 && f.type === 'published', 40, 30_000);
    b.send({ type: 'subscribe', id: 2, channel: 'wire-old', recover: { epoch: first.epoch, offset: 0 } });
    const sub = await b.next((f) => f.id === 2, 20_000);
    assert.deepEqual([sub.type, sub.recovered, sub.reason, sub.epoch, sub.offset], ['subscribed', false, 'history_gone', first.epoch, first.offset]);
    a.send({ type: 'publish', id: 3, channel: 'wire-0', data: 1, idempotencyKey: 'one' });
    b.send({ type: 'publish', id: 4, channel: 'wire-1', data: 1, idempotencyKey: 'two' });
    assert.equal((await a.next((f) => f.id === 3, 20_000)).type, 'published');
    assert.equal((await b.next((f) => f.id === 4, 20_000)).type, 'published');
    b.send({ type: 'publish', id: 5, channel: 'wire-0', data: 1, idempotencyKey: 'three' });
    const refused = await b.next((f) => f.id === 5, 20_000);
    assert.deepEqual([refused.type, refused.code], ['error', 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS']);
    assert.equal(gb.stats().broker.idempotencyRefused, 1);
  } finally {
    a.close();
    b.close();
    await Promise.all([ga.close(1000), gb.close(1000)]);
  }
});
