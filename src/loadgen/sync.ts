import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { FloodgateError } from '../errors.js';
import { segmentLabel, type Segment } from './segment.js';

/**
 * A start barrier in Redis for the segments of one run (`--sync redis://host:port/<run-id>`).
 *
 * Every segment measures its clock against Redis's (TIME, the sample with the shortest round
 * trip), registers under its index, and waits. The registration that completes the set picks the
 * start time on Redis's clock (now + a lead, or `--start-at` if later) inside the same Lua call,
 * so exactly one start exists; each segment turns it into its own clock with its measured skew.
 * Machines with clocks minutes apart therefore still start within about half a round trip of each
 * other, and the skew is reported so a reader can judge the series' alignment.
 *
 * Keys carry the run id in a hash tag, so the script also runs on Redis Cluster, and expire after
 * a day. A run id is used once: a segment that comes after the start, or a second machine with the
 * same index, is refused with FG_ERR_BENCH_SYNC.
 */

export interface SyncTarget {
  /** The URL as given, without password. */
  url: string;
  runId: string;
  redisUrl: string;
}

export interface ClockSample {
  /** Redis clock − local clock, ms (positive: this machine's clock is behind). */
  skewMs: number;
  /** Round trip of the sample the skew was taken from, ms; the skew is good to about half of it. */
  rttMs: number;
}

export interface SyncStart extends ClockSample {
  /** The agreed start on this machine's clock (epoch ms). */
  startAt: number;
  /** The agreed start on Redis's clock (epoch ms). */
  redisStartAt: number;
  runId: string;
  /** Time this segment waited at the barrier, ms. */
  waitedMs: number;
}

const KEY_TTL_S = 86_400;
const RUN_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** `redis://[user:pass@]host:port/<run-id>` (or rediss://) → the Redis URL and the run id. */
export function parseSyncUrl(spec: string): SyncTarget {
  let u: URL;
  try {
    u = new URL(spec);
  } catch {
    throw new FloodgateError('FG_ERR_BENCH_SYNC', `Expected \`sync\` as redis://host:port/<run-id>, got \`${spec}\``);
  }
  const runId = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname || !RUN_ID.test(runId)) {
    throw new FloodgateError('FG_ERR_BENCH_SYNC', `Expected \`sync\` as redis://host:port/<run-id> with a run id of 1 to 128 letters, digits or ._:- characters, got \`${spec.replace(/\/\/[^@/]*@/, '//…@')}\``);
  }
  const redisUrl = `${u.protocol}//${u.username || u.password ? `${u.username}:${u.password}@` : ''}${u.host}/0`;
  return { url: `${u.protocol}//${u.host}/${runId}`, runId, redisUrl };
}

const keys = (runId: string): { count: string; segments: string; start: string; results: string } => {
  const p = `floodgate:bench:{${runId}}:`;
  return { count: `${p}count`, segments: `${p}segments`, start: `${p}start`, results: `${p}results` };
};

/** KEYS count, segments, start; ARGV N, index, info, token, ttl s, lead ms, earliest start ms (0 = none). */
const REGISTER = `
-- Redis 5/6 replicate scripts verbatim unless told otherwise, which forbids a write after TIME
if redis.replicate_commands then redis.replicate_commands() end
local started = redis.call('GET', KEYS[3])
if started then return {'started', started} end
local n = redis.call('GET', KEYS[1])
if n and n ~= ARGV[1] then return {'count', n} end
local have = redis.call('HGET', KEYS[2], ARGV[2])
if have and not string.find(have, ARGV[4], 1, true) then return {'duplicate', have} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local len = redis.call('HLEN', KEYS[2])
if len >= tonumber(ARGV[1]) then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local at = math.max(now + tonumber(ARGV[6]), tonumber(ARGV[7]))
  redis.call('SET', KEYS[3], at, 'EX', ARGV[5])
  return {'go', tostring(at)}
end
return {'wait', tostring(len)}
`;

/** KEYS segments, start; ARGV index. Leaves the barrier unless the start was set meanwhile. */
const LEAVE = `
local started = redis.call('GET', KEYS[2])
if started then return started end
redis.call('HDEL', KEYS[1], ARGV[1])
return false
`;

type ScriptClient = Redis & {
  fgRegister(...args: (string | number)[]): Promise<[string, string]>;
  fgLeave(...args: (string | number)[]): Promise<string | null>;
};

export function connectSync(target: SyncTarget): ScriptClient {
  const client = new Redis(target.redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 10_000,
    commandTimeout: 10_000,
    retryStrategy: (attempt) => (attempt > 5 ? null : 200 * attempt),
    connectionName: 'floodgate-bench-sync',
  });
  client.on('error', () => {
    // surfaced by the command that fails; an unhandled 'error' event would crash the process
  });
  client.defineCommand('fgRegister', { numberOfKeys: 3, lua: REGISTER });
  client.defineCommand('fgLeave', { numberOfKeys: 2, lua: LEAVE });
  return client as ScriptClient;
}

/** Connects, trying a few times: one slow connect on a busy machine should not cost a whole run. */
export async function openSync(target: SyncTarget, attempts = 3): Promise<ScriptClient> {
  let last: Error | undefined;
  for (let i = 0; i < attempts; i++) {
    const client = connectSync(target);
    try {
      await client.connect();
      return client;
    } catch (err) {
      client.disconnect();
      last = err as Error;
      if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|WRONGPASS|NOAUTH/.test(last.message)) break; // an answer, not a slow network
      await new Promise((r) => setTimeout(r, 250 * (i + 1)));
    }
  }
  throw new FloodgateError('FG_ERR_BENCH_SYNC', `Could not reach Redis for \`sync\` ${target.url}: ${last?.message}`);
}

const nowMs = (): number => performance.timeOrigin + performance.now();

/** Redis clock − local clock from `samples` TIME calls; the sample with the shortest round trip wins. */
export async function measureSkew(client: Redis, samples = 7): Promise<ClockSample> {
  let best: ClockSample = { skewMs: 0, rttMs: Infinity };
  for (let i = 0; i < samples; i++) {
    const t0 = nowMs();
    const [sec, usec] = await client.time();
    const t1 = nowMs();
    const redisMs = Number(sec) * 1000 + Number(usec) / 1000;
    const rtt = t1 - t0;
    if (rtt < best.rttMs) best = { skewMs: redisMs - (t0 + t1) / 2, rttMs: rtt };
  }
  return { skewMs: Math.round(best.skewMs * 1000) / 1000, rttMs: Math.round(best.rttMs * 1000) / 1000 };
}

export interface BarrierInput {
  target: SyncTarget;
  segment: Segment;
  label: string;
  timeoutMs: number;
  /** Time from the last registration to the start, ms: long enough for every segment's poll to see it. */
  leadMs?: number;
  /** Earliest start (epoch ms, on Redis's clock), from --start-at. */
  earliestStartAt?: number;
  pollMs?: number;
}

interface Registration {
  label: string;
  hostname: string;
  pid: number;
  token: string;
  skewMs: number;
}

const describe = (raw: string | undefined): string => {
  try {
    const r = JSON.parse(raw ?? '') as Registration;
    return `${r.label} (pid ${r.pid})`;
  } catch {
    return 'unknown';
  }
};

/** Registers this segment and resolves when all N have: with the agreed start on this machine's clock. */
export async function waitAtBarrier(input: BarrierInput): Promise<SyncStart> {
  const { target, segment } = input;
  const k = keys(target.runId);
  const client = await openSync(target);
  const t0 = Date.now();
  try {
    const clock = await measureSkew(client);
    const token = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2)}`;
    const info: Registration = { label: input.label, hostname: hostname(), pid: process.pid, token, skewMs: clock.skewMs };
    const lead = input.leadMs ?? 1500;
    const [state, value] = await client.fgRegister(k.count, k.segments, k.start, segment.count, segment.index, JSON.stringify(info), token, KEY_TTL_S, lead, Math.round(input.earliestStartAt ?? 0));
    if (state === 'started') {
      throw new FloodgateError('FG_ERR_BENCH_SYNC', `Run "${target.runId}" (${target.url}) already started at ${new Date(Number(value)).toISOString()} (Redis clock); segment ${segmentLabel(segment)} cannot join late. Use a new run id for a new run.`, { runId: target.runId });
    }
    if (state === 'count') {
      throw new FloodgateError('FG_ERR_BENCH_SYNC', `Run "${target.runId}" was registered with ${value} segments, this machine runs segment ${segmentLabel(segment)}: every machine must use the same N.`, { runId: target.runId });
    }
    if (state === 'duplicate') {
      throw new FloodgateError('FG_ERR_BENCH_SYNC', `Segment ${segmentLabel(segment)} of run "${target.runId}" is already registered by ${describe(value)}: give every machine its own segment index.`, { runId: target.runId });
    }
    let redisStartAt = state === 'go' ? Number(value) : NaN;
    const deadline = Date.now() + input.timeoutMs;
    while (Number.isNaN(redisStartAt)) {
      if (Date.now() >= deadline) {
        const started = await client.fgLeave(k.segments, k.start, segment.index);
        if (started) {
          redisStartAt = Number(started);
          break;
        }
        const registered = await client.hgetall(k.segments);
        const missing: string[] = [];
        for (let i = 1; i <= segment.count; i++) if (registered[String(i)] === undefined && i !== segment.index) missing.push(`${i}/${segment.count}`);
        const present = Object.entries(registered).filter(([i]) => Number(i) !== segment.index).map(([i, v]) => `${i}/${segment.count} ${describe(v)}`);
        throw new FloodgateError('FG_ERR_BENCH_SYNC',
          `Timed out after ${Math.round(input.timeoutMs / 1000)} s at the start barrier of run "${target.runId}" (${target.url}): missing segment${missing.length === 1 ? '' : 's'} ${missing.join(', ')}; registered ${[`${segmentLabel(segment)} ${input.label} (this machine)`, ...present].join(', ')}.`,
          { runId: target.runId, missing });
      }
      await new Promise((r) => setTimeout(r, input.pollMs ?? 100));
      const s = await client.get(k.start);
      if (s !== null) redisStartAt = Number(s);
    }
    return { ...clock, redisStartAt, startAt: redisStartAt - clock.skewMs, runId: target.runId, waitedMs: Date.now() - t0 };
  } catch (err) {
    if (err instanceof FloodgateError) throw err;
    throw new FloodgateError('FG_ERR_BENCH_SYNC', `Redis for \`sync\` ${target.url} failed during the start barrier: ${(err as Error).message}`, { runId: target.runId });
  } finally {
    client.disconnect();
  }
}

/** Stores a segment's result under the run; resolves with how many segments have stored theirs and N. */
export async function pushResult(target: SyncTarget, segment: Segment, json: string): Promise<{ stored: number; count: number }> {
  const k = keys(target.runId);
  const client = await openSync(target);
  try {
    const stored = await client.multi().hset(k.results, String(segment.index), json).expire(k.results, KEY_TTL_S).hlen(k.results).exec();
    return { stored: Number(stored?.[2]?.[1] ?? 0), count: segment.count };
  } catch (err) {
    throw new FloodgateError('FG_ERR_BENCH_SYNC', `Could not store segment ${segmentLabel(segment)}'s result in Redis (${target.url}): ${(err as Error).message}`, { runId: target.runId });
  } finally {
    client.disconnect();
  }
}

/** Reads every segment's result of a run, waiting up to `timeoutMs` for all N; names the missing ones on timeout. */
export async function fetchResults(target: SyncTarget, timeoutMs: number, pollMs = 250): Promise<{ index: number; json: string }[]> {
  const k = keys(target.runId);
  const client = await openSync(target);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [count, results] = await Promise.all([client.get(k.count), client.hgetall(k.results)]);
      const n = Number(count);
      const have = Object.keys(results).length;
      if (count !== null && have >= n) {
        return Object.entries(results).map(([i, json]) => ({ index: Number(i), json })).sort((a, b) => a.index - b.index);
      }
      if (Date.now() >= deadline) {
        if (count === null) throw new FloodgateError('FG_ERR_BENCH_SYNC', `Run "${target.runId}" is unknown to Redis at ${target.url}: no segment registered (or its keys expired after a day).`, { runId: target.runId });
        const missing: string[] = [];
        for (let i = 1; i <= n; i++) if (results[String(i)] === undefined) missing.push(`${i}/${n}`);
        throw new FloodgateError('FG_ERR_BENCH_SYNC', `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for the results of run "${target.runId}" (${target.url}): missing segment${missing.length === 1 ? '' : 's'} ${missing.join(', ')} (${have} of ${n} stored).`, { runId: target.runId, missing });
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } catch (err) {
    if (err instanceof FloodgateError) throw err;
    throw new FloodgateError('FG_ERR_BENCH_SYNC', `Could not read the results of run "${target.runId}" from Redis (${target.url}): ${(err as Error).message}`, { runId: target.runId });
  } finally {
    client.disconnect();
  }
}
