// The Redis broker with history bounds per channel (channel namespaces), against a real
// redis-server: what each channel's stream and keys hold, and what recovery answers.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import type { Broker } from '../../src/broker/broker.js';
import { ChannelNamespaces } from '../../src/auth/namespaces.js';
import { resolveSettings } from '../../src/config/resolve.js';
import { SERVER_SETTINGS, type ServerSettings } from '../../src/config/server-settings.js';
import { FloodgateError } from '../../src/errors.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let inspect: Redis;
const brokers: Broker[] = [];

before(async () => {
  redis = await startRedis();
  inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await inspect.connect();
});
after(async () => {
  await Promise.all(brokers.map((b) => b.close()));
  inspect.disconnect();
  await redis.kill();
});

const { values } = resolveSettings<ServerSettings>(SERVER_SETTINGS, {
  env: {},
  file: {
    historySize: 100,
    historyTtl: 0,
    namespaces: {
      'ticks:': { historySize: 3 },
      'ticks:big:': { historyBytes: '1KB' },
      'typing:': { historySize: 0 },
      'short:': { historyTtl: '150ms' },
    },
  },
});
const namespaces = new ChannelNamespaces(values);

async function redisBroker(prefix: string): Promise<RedisBroker> {
  const b = new RedisBroker({ url: redis.url, limits: namespaces.historyFor, prefix });
  brokers.push(b);
  await b.start();
  return b;
}

async function publishN(b: Broker, channel: string, n: number, data: unknown = 'x'): Promise<void> {
  for (let i = 0; i < n; i++) await b.publish(channel, data as string);
}

test('each channel is trimmed to its namespace: stream length, byte bound, no stream at all, the meta key\'s expiry', async () => {
  const b = await redisBroker('t1:');
  await publishN(b, 'ticks:eur', 10);
  await publishN(b, 'news', 10);
  await publishN(b, 'typing:1', 10);
  assert.equal(await inspect.xlen('t1:{ticks:eur}:s'), 3, 'ticks: keeps 3');
  assert.equal(await inspect.xlen('t1:{news}:s'), 10, 'no namespace: the top-level 100');
  assert.equal(await inspect.exists('t1:{typing:1}:s'), 0, 'typing: keeps no stream');
  assert.equal(await inspect.hget('t1:{typing:1}:m', 'o'), '10', 'but still numbers its publications');
  // ticks:big: is longer than ticks: and bounds bytes: ~200 B frames, at most 1 KiB of them
  await publishN(b, 'ticks:big:eur', 10, 'y'.repeat(120));
  const kept = await inspect.xlen('t1:{ticks:big:eur}:s');
  assert.equal(kept, 5, 'ticks:big: keeps what fits in 1 KiB (5 of about 201 B); its count bound is the top-level 100, not the 3 of ticks:');
  await assert.rejects(b.publish('ticks:big:eur', 'z'.repeat(2000)), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_TOO_LARGE' && /historyBytes 1024 B of channel ticks:big:eur/.test(e.message));
  await b.publish('news', 'z'.repeat(2000)); // the top-level 1 MiB takes it
  // no age bound: the channel's position never expires; an age bound: it lives at least that long
  assert.equal(await inspect.pttl('t1:{news}:m'), -1);
  await b.publish('short:a', 1);
  assert.ok((await inspect.pttl('t1:{short:a}:m')) > 0, 'short: has an age bound, so its meta key expires');
});

test('recovery answers by namespace: replay within the bound, history_gone past it, history_off without history', async () => {
  const b = await redisBroker('t2:');
  await publishN(b, 'ticks:eur', 6);
  await publishN(b, 'typing:1', 6);
  const { epoch } = await b.recover('ticks:eur');
  const within = await b.recover('ticks:eur', { epoch, offset: 3 });
  assert.ok(within.ok);
  assert.deepEqual(within.publications.map((p) => p.offset), [4, 5, 6]);
  const past = await b.recover('ticks:eur', { epoch, offset: 2 });
  assert.deepEqual([past.ok, !past.ok && past.reason], [false, 'history_gone']);
  const t = await b.recover('typing:1');
  const off = await b.recover('typing:1', { epoch: t.epoch, offset: 5 });
  assert.deepEqual([off.ok, !off.ok && off.reason, off.offset], [false, 'history_off', 6]);
  const current = await b.recover('typing:1', { epoch: t.epoch, offset: 6 });
  assert.deepEqual([current.ok, current.ok && current.publications.length], [true, 0]);
  // the age bound of short: only (150 ms); news, in no namespace, has none
  await b.publish('short:a', 1);
  await b.publish('short:a', 2);
  await publishN(b, 'news', 2);
  const s = await b.recover('short:a');
  const n = await b.recover('news');
  await new Promise((r) => setTimeout(r, 400));
  const expired = await b.recover('short:a', { epoch: s.epoch, offset: 0 });
  assert.deepEqual([expired.ok, !expired.ok && expired.reason], [false, 'history_gone']);
  const kept = await b.recover('news', { epoch: n.epoch, offset: 0 });
  assert.deepEqual([kept.ok, kept.ok && kept.publications.length], [true, 2]);
});

test('the memory broker answers the same with the same namespaces', async () => {
  const m = new MemoryBroker(namespaces.historyFor);
  brokers.push(m);
  await m.start();
  await publishN(m, 'ticks:eur', 6);
  await publishN(m, 'typing:1', 6);
  const { epoch } = await m.recover('ticks:eur');
  const within = await m.recover('ticks:eur', { epoch, offset: 3 });
  assert.deepEqual(within.ok && within.publications.map((p) => p.offset), [4, 5, 6]);
  const past = await m.recover('ticks:eur', { epoch, offset: 2 });
  assert.deepEqual([past.ok, !past.ok && past.reason], [false, 'history_gone']);
  const t = await m.recover('typing:1');
  const off = await m.recover('typing:1', { epoch: t.epoch, offset: 5 });
  assert.deepEqual([off.ok, !off.ok && off.reason], [false, 'history_off']);
  assert.equal(m.stats().historyMessages, 3, 'only ticks:eur holds history');
});
