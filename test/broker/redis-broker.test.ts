import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisBroker, type GapReason } from '../../src/broker/redis-broker.js';
import type { Publication } from '../../src/broker/broker.js';
import { FloodgateError } from '../../src/errors.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const limits = { maxCount: 5, maxBytes: 1024 * 1024, ttlMs: 0 };
let redis: RedisServer;
const brokers: RedisBroker[] = [];

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await Promise.all(brokers.map((b) => b.close()));
  await redis.kill();
});

async function node(opts: Partial<typeof limits> = {}): Promise<{ broker: RedisBroker; got: Publication[]; gaps: [string, GapReason][] }> {
  const broker = new RedisBroker({ url: redis.url, limits: { ...limits, ...opts } });
  brokers.push(broker);
  const got: Publication[] = [];
  const gaps: [string, GapReason][] = [];
  broker.onPublication = (p) => got.push(p);
  broker.onGap = (c, r) => gaps.push([c, r]);
  await broker.start();
  return { broker, got, gaps };
}

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const offsets = (pubs: Publication[], channel: string): number[] => pubs.filter((p) => p.channel === channel).map((p) => p.offset);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('two nodes: one dense sequence per channel, every node gets every publication in order, frames as encodeMessage builds them', async () => {
  const a = await node();
  const b = await node();
  a.broker.watch('c1');
  b.broker.watch('c1');
  const start = await a.broker.recover('c1'); // waits until subscribed
  await b.broker.recover('c1');
  assert.equal(start.offset, 0);
  const results = await Promise.all(range(1, 40).map((i) => (i % 2 ? a : b).broker.publish('c1', { i, s: 'é"\\' })));
  assert.deepEqual(results.map((r) => r.offset).sort((x, y) => x - y), range(1, 40));
  assert.ok(results.every((r) => r.epoch === start.epoch));
  await until(() => a.got.length === 40 && b.got.length === 40, 'both nodes to receive 40');
  assert.deepEqual(offsets(a.got, 'c1'), range(1, 40));
  assert.deepEqual(offsets(b.got, 'c1'), range(1, 40));
  const f = JSON.parse(a.got[0].frame.toString());
  assert.deepEqual(Object.keys(f), ['type', 'channel', 'epoch', 'offset', 'data']);
  assert.equal(f.epoch, start.epoch);
  assert.equal(f.data.s, 'é"\\');
});

test('recover: replays from the stream, bounded like the memory ring; epoch_changed, offset_ahead, history_gone', async () => {
  const a = await node();
  const first = await a.broker.publish('c2', 'x1');
  for (let i = 2; i <= 8; i++) await a.broker.publish('c2', `x${i}`);
  const ok = await a.broker.recover('c2', { epoch: first.epoch, offset: 5 });
  assert.ok(ok.ok);
  assert.deepEqual(ok.ok && ok.publications.map((p) => p.offset), [6, 7, 8]);
  assert.equal(ok.ok && JSON.parse(ok.publications[0].frame.toString()).data, 'x6');
  const gone = await a.broker.recover('c2', { epoch: first.epoch, offset: 2 }); // only 4..8 kept (historySize 5)
  assert.deepEqual([gone.ok, !gone.ok && gone.reason], [false, 'history_gone']);
  const edge = await a.broker.recover('c2', { epoch: first.epoch, offset: 3 });
  assert.deepEqual(edge.ok && edge.publications.map((p) => p.offset), [4, 5, 6, 7, 8]);
  const ahead = await a.broker.recover('c2', { epoch: first.epoch, offset: 9 });
  assert.equal(!ahead.ok && ahead.reason, 'offset_ahead');
  const other = await a.broker.recover('c2', { epoch: 'nope', offset: 1 });
  assert.equal(!other.ok && other.reason, 'epoch_changed');
  const upToDate = await a.broker.recover('c2', { epoch: first.epoch, offset: 8 });
  assert.deepEqual([upToDate.ok, upToDate.offset, upToDate.ok && upToDate.publications.length], [true, 8, 0]);
  await assert.rejects(a.broker.publish('c2', 'y'.repeat(2 * 1024 * 1024)), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_TOO_LARGE');
});

test('history age bound: entries older than historyTtl answer history_gone', async () => {
  const a = await node({ ttlMs: 300 });
  const p = await a.broker.publish('c3', 1);
  await a.broker.publish('c3', 2);
  assert.ok((await a.broker.recover('c3', { epoch: p.epoch, offset: 0 })).ok);
  await new Promise((r) => setTimeout(r, 400));
  const r = await a.broker.recover('c3', { epoch: p.epoch, offset: 0 });
  assert.equal(!r.ok && r.reason, 'history_gone');
});

test('pub/sub messages lost while the subscriber connection is down are filled from the stream', async () => {
  const a = await node({ maxCount: 1000 });
  const b = await node({ maxCount: 1000 });
  b.broker.watch('c4');
  await b.broker.recover('c4');
  await a.broker.publish('c4', 0);
  await until(() => b.got.length === 1, 'first publication');
  const admin = new Redis(redis.url);
  try {
    // drop every pub/sub connection; publications go on meanwhile
    await admin.client('KILL', 'TYPE', 'pubsub');
    for (let i = 1; i <= 30; i++) await a.broker.publish('c4', i);
  } finally {
    admin.disconnect();
  }
  await until(() => b.got.length >= 31, 'b to catch up');
  assert.deepEqual(offsets(b.got, 'c4'), range(1, 31));
  assert.ok(b.broker.stats().redis.gapsFilled >= 1, 'the hole was filled from the stream');
  assert.deepEqual(b.gaps, []);
});

test('Redis down: publish refused with FG_ERR_PUBLISH_FAILED, unhealthy with lastError, recovery `unavailable`; back: new epoch reported as a gap', async () => {
  const a = await node();
  a.broker.watch('c5');
  const before = await a.broker.recover('c5');
  const p = await a.broker.publish('c5', 'before');
  await until(() => a.got.length === 1, 'live publication');
  await redis.kill();
  await until(() => !a.broker.stats().healthy, 'broker to notice');
  const s = a.broker.stats();
  assert.equal(s.healthy, false);
  assert.match(s.lastError ?? '', /./);
  await assert.rejects(a.broker.publish('c5', 'lost?'), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_FAILED');
  const r = await a.broker.recover('c5', { epoch: p.epoch, offset: 1 });
  assert.deepEqual([r.ok, !r.ok && r.reason], [false, 'unavailable']);
  await assert.rejects(a.broker.recover('c6'), (e: FloodgateError) => e.code === 'FG_ERR_RECOVERY_FAILED');
  assert.equal(before.epoch, p.epoch);

  await redis.start(); // same port, empty: every key is gone
  await until(() => a.broker.stats().healthy, 'broker to reconnect', 8000);
  const after2 = await a.broker.publish('c5', 'after');
  assert.notEqual(after2.epoch, p.epoch);
  assert.equal(after2.offset, 1);
  await until(() => a.got.length === 2, 'publication in the new epoch');
  assert.deepEqual(a.gaps, [['c5', 'epoch_changed']]);
  assert.equal(a.got[1].epoch, after2.epoch);
});
