// The Redis start barrier and result store of `bench --sync`, against a real redis-server on a free port.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isFloodgateError } from '../../src/errors.js';
import { decodeHistogram } from '../../src/loadgen/histograms.js';
import { run } from '../../src/loadgen/index.js';
import { mergeResults } from '../../src/loadgen/merge.js';
import { fetchResults, measureSkew, openSync, parseSyncUrl, waitAtBarrier } from '../../src/loadgen/sync.js';
import type { BenchResult } from '../../src/loadgen/types.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startWsServerProcess } from '../helpers/ws-server-process.js';

const syncError = (re: RegExp) => (e: unknown): boolean => {
  assert.ok(isFloodgateError(e), String(e));
  assert.equal(e.code, 'FG_ERR_BENCH_SYNC');
  assert.match(e.message, re);
  return true;
};

describe('bench --sync (Redis barrier)', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  let server: { url: string; stop: () => Promise<void> };
  let n = 0;
  const url = (): string => `redis://127.0.0.1:${redis.port}/test-${process.pid}-${++n}`;
  before(async () => {
    redis = await startRedis();
    // in its own process: three coordinators in this one would starve it (see the helper)
    server = await startWsServerProcess();
  });
  after(async () => {
    await server.stop();
    await redis.kill();
  });

  it('parses redis://host:port/<run-id> and refuses URLs without a run id', () => {
    assert.deepEqual(parseSyncUrl('redis://:secret@10.0.0.5:6380/run-42'), { url: 'redis://10.0.0.5:6380/run-42', runId: 'run-42', redisUrl: 'redis://:secret@10.0.0.5:6380/0' });
    for (const bad of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'http://h/x', 'redis://h/a b', 'nope']) {
      assert.throws(() => parseSyncUrl(bad), syncError(/redis:\/\/host:port\/<run-id>/), bad);
    }
  });

  it('measures the clock skew against Redis TIME (same machine: within the round trip)', async () => {
    const client = await openSync(parseSyncUrl(url()));
    try {
      const c = await measureSkew(client);
      assert.ok(c.rttMs > 0 && Number.isFinite(c.rttMs));
      // one clock on both ends: the estimate can only be off by the round trip's asymmetry
      assert.ok(Math.abs(c.skewMs) <= c.rttMs / 2 + 1, `skew ${c.skewMs} rtt ${c.rttMs}`);
    } finally {
      client.disconnect();
    }
  });

  it('three segments start at one instant on Redis\'s clock, store their results, and merge to the whole scenario', async () => {
    const sync = url();
    const runs = [1, 2, 3].map((i) => run({
      url: server.url, connections: 31, rate: 62, durationMs: 200, workers: 1, tickMs: 250,
      segment: `${i}/3`, sync, label: `host-${i}`, syncTimeoutMs: 60_000,
    }));
    const stored: number[] = [];
    runs.forEach((r) => r.on('stored', (s: { stored: number }) => stored.push(s.stored)));
    const results = await Promise.all(runs);
    const why = JSON.stringify(results.map((r) => ({ failures: r.failures, clock: r.clock, lag: r.latencyMs.startLag, warnings: r.plan.warnings })));
    assert.deepEqual(results.map((r) => r.totals.attempts), [11, 10, 10], why);
    assert.deepEqual(results.map((r) => r.totals.successes), [11, 10, 10], why);
    for (const r of results) {
      assert.equal(r.clock?.source, 'redis');
      assert.equal(r.segment?.count, 3);
      assert.deepEqual(JSON.parse(JSON.stringify(r.segment?.scenario)), [{ connections: 31, rate: 62, durationMs: 200 }]);
    }
    // one start on Redis's clock: local start + skew is the same instant (to the ms of the ISO string)
    const redisStarts = results.map((r) => Date.parse(r.clock!.startAt) + r.clock!.skewMs!);
    assert.ok(Math.max(...redisStarts) - Math.min(...redisStarts) <= 2, `starts ${redisStarts}`);
    assert.deepEqual(stored.sort(), [1, 2, 3]);

    const target = parseSyncUrl(sync);
    const fromRedis = await fetchResults(target, 5000);
    assert.deepEqual(fromRedis.map((s) => s.index), [1, 2, 3]);
    const merged = mergeResults(fromRedis.map((s) => ({ result: JSON.parse(s.json) as BenchResult, source: `#${s.index}` })));
    assert.equal(merged.totals.attempts, 31);
    assert.equal(merged.totals.successes, 31);
    assert.deepEqual(JSON.parse(JSON.stringify(merged.stages)), [{ connections: 31, rate: 62, durationMs: 200 }]);
    assert.equal(merged.latencyMs.handshake.count, 31);
    assert.equal(decodeHistogram(merged.histograms.handshake).totalCount, 31);
    assert.deepEqual(merged.parts!.map((p) => p.label), ['host-1', 'host-2', 'host-3']);
    assert.deepEqual(merged.parts!.map((p) => p.offsetS), [0, 0, 0]);
    assert.equal(merged.series.reduce((s, p) => s + p.attempts, 0), 31);
  });

  it('a barrier that never fills times out naming the missing segments, and leaves no registration behind', async () => {
    const target = parseSyncUrl(url());
    await assert.rejects(waitAtBarrier({ target, segment: { index: 2, count: 3 }, label: 'only-me', timeoutMs: 300 }),
      syncError(/Timed out after 0 s at the start barrier of run "test-[^"]*" \(redis:\/\/127\.0\.0\.1:\d+\/test-[^)]*\): missing segments 1\/3, 3\/3; registered 2\/3 only-me \(this machine\)/));
    // it left: a later 1/1-style retry of the same index can register again
    const client = await openSync(target);
    try {
      assert.deepEqual(await client.hgetall(`floodgate:bench:{${target.runId}}:segments`), {});
    } finally {
      client.disconnect();
    }
  });

  it('refuses a second machine with the same index, a different N, and a segment after the start', async () => {
    const target = parseSyncUrl(url());
    const first = waitAtBarrier({ target, segment: { index: 1, count: 2 }, label: 'a', timeoutMs: 20_000, pollMs: 20 });
    // the first registration is in once the count key exists
    const client = await openSync(target);
    try {
      for (let i = 0; i < 200 && (await client.get(`floodgate:bench:{${target.runId}}:count`)) === null; i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      client.disconnect();
    }
    await assert.rejects(waitAtBarrier({ target, segment: { index: 1, count: 2 }, label: 'b', timeoutMs: 1000 }), syncError(/Segment 1\/2 of run ".*" is already registered by a \(pid \d+\)/));
    await assert.rejects(waitAtBarrier({ target, segment: { index: 2, count: 3 }, label: 'c', timeoutMs: 1000 }), syncError(/registered with 2 segments, this machine runs segment 2\/3/));
    const [s1, s2] = await Promise.all([first, waitAtBarrier({ target, segment: { index: 2, count: 2 }, label: 'd', timeoutMs: 20_000, leadMs: 200 })]);
    assert.equal(s1.redisStartAt, s2.redisStartAt);
    await assert.rejects(waitAtBarrier({ target, segment: { index: 2, count: 2 }, label: 'late', timeoutMs: 1000 }), syncError(/already started at .*; segment 2\/2 cannot join late/));
  });

  it('--start-at with --sync: the start is the later of the given time and the barrier', async () => {
    const target = parseSyncUrl(url());
    const earliest = Date.now() + 1500;
    const [a, b] = await Promise.all([1, 2].map((i) => waitAtBarrier({ target, segment: { index: i, count: 2 }, label: `s${i}`, timeoutMs: 20_000, leadMs: 0, earliestStartAt: earliest })));
    assert.equal(a.redisStartAt, earliest);
    assert.equal(b.redisStartAt, earliest);
  });

  it('unreachable Redis, a missing --segment and a start time in the past are coded errors', async () => {
    await assert.rejects(run({ url: server.url, connections: 2, durationMs: 0, workers: 1, segment: '1/2', sync: 'redis://127.0.0.1:1/x', syncTimeoutMs: 1000 }), syncError(/Could not reach Redis for `sync` redis:\/\/127.0.0.1:1\/x/));
    await assert.rejects(run({ url: server.url, connections: 2, durationMs: 0, sync: url() }), syncError(/Expected `segment` \(i\/N\) with `sync`/));
    await assert.rejects(run({ url: server.url, connections: 2, durationMs: 0, workers: 1, startAt: '2020-01-01T00:00:00Z' }), syncError(/`startAt` 2020-01-01T00:00:00.000Z is .* s in the past/));
    await assert.rejects(run({ url: server.url, connections: 2, durationMs: 0, startAt: 'tomorrow' }), syncError(/ISO 8601 time with a zone/));
  });

  it('waiting for stored results names the missing segments', async () => {
    const sync = url();
    const r = await run({ url: server.url, connections: 4, durationMs: 0, workers: 1, segment: '1/1', sync });
    assert.equal(r.totals.successes, 4);
    const two = parseSyncUrl(url());
    await assert.rejects(fetchResults(two, 100), syncError(/is unknown to Redis/));
    const target = parseSyncUrl(sync);
    const client = await openSync(target);
    try {
      await client.set(`floodgate:bench:{${target.runId}}:count`, '3');
    } finally {
      client.disconnect();
    }
    await assert.rejects(fetchResults(target, 100), syncError(/missing segments 2\/3, 3\/3 \(1 of 3 stored\)/));
  });
});
