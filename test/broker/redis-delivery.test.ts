import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import type { Publication, PublishAnswer, RecoverAnswer } from '../../src/broker/broker.js';
import { FloodgateError } from '../../src/errors.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

// Idempotent publish, publisher order, batched recovery and "down vs slow" against a real redis-server.
const limits = { maxCount: 1000, maxBytes: 1024 * 1024, ttlMs: 0 };
let redis: RedisServer;
const brokers: RedisBroker[] = [];

before(async () => {
  redis = await startRedis(['--enable-debug-command', 'yes']);
});
after(async () => {
  if (redis.pid !== undefined) process.kill(redis.pid, 'SIGCONT');
  await Promise.all(brokers.map((b) => b.close()));
  await redis.kill();
});

async function node(extra: { downAfterMs?: number; commandTimeoutMs?: number } = {}): Promise<{ broker: RedisBroker; got: Publication[] }> {
  const broker = new RedisBroker({ url: redis.url, limits, ...extra });
  brokers.push(broker);
  const got: Publication[] = [];
  broker.onPublication = (p) => got.push(p);
  await broker.start();
  return { broker, got };
}

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('one key retried 20 times at once from two nodes is published once; every answer is the original offset', async () => {
  const a = await node();
  const b = await node();
  a.broker.watch('idem');
  await a.broker.recover('idem');
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).broker.publish('idem', { v: 1 }, { idempotencyKey: 'k-1' })));
  const offsets = new Set(answers.map((r) => r.offset));
  assert.deepEqual([...offsets], [1]);
  assert.equal(answers.filter((r: PublishAnswer) => r.duplicate).length, 19);
  assert.equal((await a.broker.publish('idem', { v: 2 }, { idempotencyKey: 'k-2' })).offset, 2);
  await until(() => a.got.length === 2, 'two publications');
  assert.deepEqual(a.got.map((p) => p.offset), [1, 2]);
});

test('publisher order: a lower seq after a higher one is refused FG_ERR_PUBLISH_OUT_OF_ORDER, on any node', async () => {
  const a = await node();
  const b = await node();
  await a.broker.publish('ord', 'five', { publisher: 'p1', seq: 5, idempotencyKey: 'p1:5' });
  await assert.rejects(b.broker.publish('ord', 'three', { publisher: 'p1', seq: 3, idempotencyKey: 'p1:3' }), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_OUT_OF_ORDER' && e.details?.last === 5);
  // the same key again is the original answer, not a refusal
  assert.deepEqual(await b.broker.publish('ord', 'five', { publisher: 'p1', seq: 5, idempotencyKey: 'p1:5' }), { epoch: (await a.broker.recover('ord')).epoch, offset: 1, duplicate: true });
  assert.equal((await b.broker.publish('ord', 'six', { publisher: 'p1', seq: 6 })).offset, 2);
  assert.equal((await b.broker.publish('ord', 'other', { publisher: 'p2', seq: 1 })).offset, 3);
});

test('a failover burst of 2,500 recoveries over 5 channels is served by a handful of batched reads, every one exact', async () => {
  const a = await node();
  const channels = ['r0', 'r1', 'r2', 'r3', 'r4'];
  for (const ch of channels) for (let i = 1; i <= 50; i++) await a.broker.publish(ch, i);
  const epochs = new Map<string, string>();
  for (const ch of channels) epochs.set(ch, (await a.broker.recover(ch)).epoch);
  const before = a.broker.stats().redis.recoveryReads;
  const asks = Array.from({ length: 2500 }, (_, i) => ({ ch: channels[i % 5], since: i % 51 }));
  const answers: RecoverAnswer[] = await Promise.all(asks.map((q) => a.broker.recover(q.ch, { epoch: epochs.get(q.ch)!, offset: q.since })));
  answers.forEach((r, i) => {
    assert.ok(r.ok, `answer ${i}`);
    assert.deepEqual(r.publications.map((p) => p.offset), Array.from({ length: 50 - asks[i].since }, (_, k) => asks[i].since + 1 + k));
    if (r.publications.length > 0) assert.equal(JSON.parse(r.publications[0].frame.toString()).data, asks[i].since + 1);
  });
  const reads = a.broker.stats().redis.recoveryReads - before;
  console.log(`# 2,500 recoveries → ${reads} Redis reads`);
  assert.ok(reads <= 25, `${reads} reads`);
  const gone = await a.broker.recover('r0', { epoch: 'old', offset: 3 });
  assert.deepEqual([gone.ok, !gone.ok && gone.reason, gone.offset], [false, 'epoch_changed', 50]);
});

test('slow Redis (DEBUG SLEEP 2) is not an outage: still healthy, the publish waits and succeeds', async () => {
  const a = await node({ downAfterMs: 5000, commandTimeoutMs: 4000 });
  await a.broker.publish('slow', 0);
  const admin = new Redis(redis.url);
  try {
    const sleeping = admin.call('DEBUG', 'SLEEP', '2');
    await new Promise((r) => setTimeout(r, 100)); // let the sleep start before the publish
    const answer = await a.broker.publish('slow', 1);
    await sleeping;
    assert.equal(answer.offset, 2);
    assert.equal(a.broker.stats().healthy, true);
    assert.equal(a.broker.stats().redis.outages, 0);
  } finally {
    admin.disconnect();
  }
});

test('this process starved past commandTimeout and downAfterMs while Redis answered (a CPU hog) is not an outage', async () => {
  const a = await node({ downAfterMs: 400, commandTimeoutMs: 200 });
  await a.broker.publish('starved', 0);
  // right after each of the next three pings is written, the loop blocks for 700 ms: Redis's
  // answer waits in the socket while the ping's timeout comes due, as under a CPU hog
  const cmd = (a.broker as unknown as { cmd: { ping(): Promise<string> } }).cmd;
  const ping = cmd.ping.bind(cmd);
  let stalls = 0;
  cmd.ping = () => {
    const p = ping();
    if (stalls < 3) {
      stalls++;
      const until = Date.now() + 700;
      while (Date.now() < until) { /* starved */ }
    }
    return p;
  };
  await until(() => stalls === 3, 'three stalls', 15_000);
  await new Promise((r) => setTimeout(r, 1500)); // the probes after the last stall have judged
  assert.equal(a.broker.stats().redis.outages, 0, 'no outage was declared');
  assert.equal(a.broker.stats().healthy, true);
  assert.equal((await a.broker.publish('starved', 1)).offset, 2);
});

test('a publish and a recovery read in flight while this process is starved past commandTimeout succeed: their answers were waiting in the socket', async () => {
  const a = await node({ downAfterMs: 5000, commandTimeoutMs: 200 });
  await a.broker.publish('starved-cmd', 0);
  const starve = (): void => {
    const until = Date.now() + 700;
    while (Date.now() < until) { /* starved */ }
  };
  const published = a.broker.publish('starved-cmd', 1); // the script call is written synchronously
  starve();
  assert.equal((await published).offset, 2, 'not FG_ERR_PUBLISH_UNKNOWN');
  // recoveries go out in one pipeline a loop turn later: starve right after it is written
  const cmd = (a.broker as unknown as { cmd: { pipeline(): { exec(): Promise<unknown> } } }).cmd;
  const pipeline = cmd.pipeline.bind(cmd);
  cmd.pipeline = () => {
    const pl = pipeline();
    const exec = pl.exec.bind(pl);
    pl.exec = () => {
      const sent = exec();
      starve();
      return sent;
    };
    return pl;
  };
  const r = await a.broker.recover('starved-cmd', { epoch: (await published).epoch, offset: 0 });
  assert.equal(r.ok, true, `answered ${JSON.stringify(r)}, not \`unavailable\``);
  assert.deepEqual(r.ok ? r.publications.map((p) => p.offset) : [], [1, 2]);
  assert.equal(a.broker.stats().redis.outages, 0);
});

test('hung Redis (SIGSTOP) is down after downAfterMs: publishes refused FG_ERR_PUBLISH_FAILED, recovery `unavailable` at the position this node last saw; SIGCONT: healthy again', async () => {
  const a = await node({ downAfterMs: 1500, commandTimeoutMs: 1000 });
  a.broker.watch('hung');
  const start = await a.broker.recover('hung');
  for (let i = 1; i <= 10; i++) await a.broker.publish('hung', i);
  await until(() => a.got.length === 10, 'ten live publications');
  process.kill(redis.pid!, 'SIGSTOP');
  try {
    const rec = await a.broker.recover('hung', { epoch: start.epoch, offset: 3 });
    // the channel's position (as last seen live), not the client's old offset 3
    assert.deepEqual(rec, { ok: false, epoch: start.epoch, offset: 10, reason: 'unavailable' });
    await until(() => !a.broker.stats().healthy, 'the broker to call Redis down');
    await assert.rejects(a.broker.publish('hung', 'x'), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_FAILED');
  } finally {
    process.kill(redis.pid!, 'SIGCONT');
  }
  await until(() => a.broker.stats().healthy, 'healthy again');
  assert.equal((await a.broker.publish('hung', 11)).offset, 11);
});
