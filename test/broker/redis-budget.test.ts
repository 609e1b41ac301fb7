import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import type { HistoryLimits } from '../../src/server/history.js';
import { FloodgateError } from '../../src/errors.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

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

async function node(prefix: string, budget: { historyMemory: number; maxChannels: number }, limits: Partial<HistoryLimits> = {}): Promise<RedisBroker> {
  const broker = new RedisBroker({ url: redis.url, prefix, limits: { maxCount: 100, maxBytes: 1 << 20, ttlMs: 0, ...limits }, ...budget });
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
