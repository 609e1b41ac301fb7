/**
 * Redis budget suite: what a hostile publisher or subscriber can make Redis hold through the Redis
 * broker, with the bounds of issue 10 and without them, in the same run against one redis-server
 * of its own (a free port, no persistence). Redis `used_memory` from INFO before and after each
 * flood; each case starts from FLUSHALL.
 *   keys       KEYS publishes, each with a new idempotencyKey, over 100 channels (history 10
 *              messages per channel, so the history is small and the keys are what grows):
 *              maxIdempotencyKeys 0 (unbounded, as before) against a cap of CAP
 *   subscribes SUBS subscribes to new channel names nobody publishes to: the hash each leaves,
 *              with the empty-channel expiry (EMPTY_MS here; 10 min by default) and without it
 *              (the meta ttl of 24 h, as before), read again after EMPTY_MS × 2
 * Prints a markdown section; writes benchmarks/results/redis-budget.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { FloodgateError } from '../../src/errors.js';
import { bounded, freePort } from '../lib/measure.js';

const root = new URL('../../', import.meta.url).pathname;
const KEYS = Number(process.env.FG_BENCH_REDIS_KEYS ?? 100_000);
const CAP = Number(process.env.FG_BENCH_REDIS_KEY_CAP ?? 10_000);
const SUBS = Number(process.env.FG_BENCH_REDIS_SUBS ?? 50_000);
const EMPTY_MS = 3000;
const BATCH = 500;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const port = await freePort();
const server: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore', detached: true });
const url = `redis://127.0.0.1:${port}`;
// the suite's redis-server goes with the suite, however it ends
process.on('exit', () => {
  try { process.kill(-server.pid!, 'SIGKILL'); } catch { /* gone */ }
});
await bounded((async () => {
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await sleep(50);
  }
})(), 60_000, 'redis-server start');
const probe = new Redis(url);

async function usedMemory(): Promise<number> {
  const info = await probe.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)![1]);
}

async function dbsize(): Promise<number> {
  return probe.dbsize();
}

interface KeysCase { label: string; cap: number; beforeB: number; afterB: number; published: number; refused: number; held: number; seconds: number }

async function keysFlood(label: string, cap: number, withKeys = true): Promise<KeysCase> {
  await probe.flushall();
  const broker = new RedisBroker({
    url, prefix: 'fg:', limits: { maxCount: 10, maxBytes: 1 << 20, ttlMs: 300_000 },
    idempotencyWindowMs: 300_000, maxIdempotencyKeys: cap, historyMemory: 64 << 20, maxChannels: 100_000,
  });
  await broker.start();
  const beforeB = await usedMemory();
  const started = performance.now();
  let published = 0;
  let refused = 0;
  for (let i = 0; i < KEYS; i += BATCH) {
    await bounded(Promise.all(Array.from({ length: Math.min(BATCH, KEYS - i) }, (_, j) => {
      const n = i + j;
      return broker.publish(`ch-${n % 100}`, n, withKeys ? { idempotencyKey: `hostile-${n}` } : undefined).then(
        () => { published++; },
        (e: FloodgateError) => {
          if (e.code !== 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS') throw e;
          refused++;
        },
      );
    })), 60_000, 'publish batch');
  }
  const seconds = (performance.now() - started) / 1000;
  const afterB = await usedMemory();
  const held = (await probe.keys('fg:{*}:i:*')).length;
  await broker.close();
  return { label, cap, beforeB, afterB, published, refused, held, seconds };
}

interface SubsCase { label: string; beforeB: number; afterB: number; laterB: number; hashesAfter: number; hashesLater: number }

async function subscribeStorm(label: string, emptyChannelTtlMs: number): Promise<SubsCase> {
  await probe.flushall();
  const broker = new RedisBroker({ url, prefix: 'fg:', limits: { maxCount: 1000, maxBytes: 1 << 20, ttlMs: 300_000 }, emptyChannelTtlMs });
  await broker.start();
  const beforeB = await usedMemory();
  for (let i = 0; i < SUBS; i += BATCH) {
    await bounded(Promise.all(Array.from({ length: Math.min(BATCH, SUBS - i) }, (_, j) => broker.recover(`storm-${i + j}`))), 60_000, 'subscribe batch');
  }
  const afterB = await usedMemory();
  const hashesAfter = await dbsize();
  await sleep(EMPTY_MS * 2);
  const laterB = await usedMemory();
  const hashesLater = await dbsize();
  await broker.close();
  return { label, beforeB, afterB, laterB, hashesAfter, hashesLater };
}

const load = loadavg().map((l) => l.toFixed(2)).join(' ');
const plain = await keysFlood('the same publishes without idempotencyKey (baseline: history only)', 0, false);
const keys = [plain, await keysFlood('maxIdempotencyKeys 0 (unbounded, as before)', 0), await keysFlood(`maxIdempotencyKeys ${CAP}`, CAP)];
const subs = [await subscribeStorm('meta ttl only (24 h, as before)', 0), await subscribeStorm(`empty-channel expiry (${EMPTY_MS / 1000} s here, 10 min by default)`, EMPTY_MS)];
const loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
probe.disconnect();
try { process.kill(-server.pid!, 'SIGKILL'); } catch { /* gone */ }

const MB = (b: number): string => (b / 1024 / 1024).toFixed(1);
const [, open, capped] = keys;
const base = plain.afterB - plain.beforeB;
const perKey = (k: KeysCase): number => (k.afterB - k.beforeB - base) / Math.max(1, k.held);
const lines = [
  '## redis-budget',
  '',
  `What one hostile client can make Redis hold through the Redis broker (one redis-server of the suite's own; \`used_memory\` from INFO; load average ${load} before, ${loadAfter} after).`,
  '',
  `${KEYS.toLocaleString('en-US')} publishes, each with a new \`idempotencyKey\`, over 100 channels (\`idempotencyWindow\` 5 min, history 10 messages per channel):`,
  '',
  '| case | published | refused (FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS) | keys held | Redis used_memory growth (MB) | bytes per key held, beyond the baseline | flood time (s) |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...keys.map((k) => `| ${k.label} | ${k.published} | ${k.refused} | ${k.held} | ${MB(k.afterB - k.beforeB)} | ${k.held === 0 ? '' : Math.round(perKey(k))} | ${k.seconds.toFixed(1)} |`),
  '',
  `With the cap Redis grew ${((capped.afterB - capped.beforeB) / Math.max(1, open.afterB - open.beforeB)).toFixed(2)}× of the unbounded growth; each key held costs about ${Math.round(perKey(open))} B without the cap and ${Math.round(perKey(capped))} B with it (the count lives in a sorted set).`,
  '',
  `${SUBS.toLocaleString('en-US')} subscribes to new channel names nobody publishes to:`,
  '',
  '| case | used_memory growth after the storm (MB) | keys after | used_memory growth ${EMPTY_MS * 2 / 1000} s later (MB) | keys then |'.replace('${EMPTY_MS * 2 / 1000}', String((EMPTY_MS * 2) / 1000)),
  '|---|---:|---:|---:|---:|',
  ...subs.map((s) => `| ${s.label} | ${MB(s.afterB - s.beforeB)} | ${s.hashesAfter} | ${MB(s.laterB - s.beforeB)} | ${s.hashesLater} |`),
  '',
  `"keys after" counts the hashes still there when the storm ended: with the short expiry of this run the first ones were already gone. Each hash costs about ${Math.round((subs[0].afterB - subs[0].beforeB) / Math.max(1, subs[0].hashesAfter))} B; without the expiry they stay for 24 h (forever with \`historyTtl\` 0).`,
];
console.log(lines.join('\n'));
mkdirSync(`${root}benchmarks/results`, { recursive: true });
writeFileSync(`${root}benchmarks/results/redis-budget.json`, JSON.stringify({ load, loadAfter, keys, subs }, null, 2));
process.exit(0);
