/**
 * Memory suite (issues 15 and 10): what the gateway's memory costs, and what the young-generation
 * setting trades for it, all in one run so every row shares the machine's load:
 *  1. RSS per idle connection: N connections opened at N/4 per second and held; server RSS read
 *     3 s after the last one settled (as the server suite reads it) and again 12 s after (once
 *     the process has been quiet long enough to hand a grown young generation back).
 *  2. Server CPU per handshake: a burst of N simultaneous upgrades (the price of a smaller young
 *     generation is paid here).
 *  3. The flood of issue 10 (200 connections × 100 publishes of 10 KB to distinct channels,
 *     `--history-ttl 10s`): peak RSS growth, and RSS once every channel has expired.
 * Servers: plain `ws` (1 and 2 only), floodgate with its defaults (`youngGeneration small`),
 * floodgate with `--young-generation grow`, and, when FG_BENCH_BASELINE_ROOT names another
 * built checkout (e.g. main), that checkout's floodgate with its defaults: before/after side by side.
 * Load is driven by `floodgate bench`'s run() in FG_BENCH_CLIENT_PROCESSES worker processes.
 * FG_BENCH_MEMORY_PARTS picks parts (idle, burst, flood); FG_BENCH_FLOOD_CONNECTIONS,
 * FG_BENCH_FLOOD_PUBLISHES and FG_BENCH_FLOOD_PAYLOAD (bytes of data per publish) size the flood.
 * Prints a markdown section; writes benchmarks/results/memory.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { run as bench } from '../../src/loadgen/run.js';
import type { BenchResult } from '../../src/loadgen/types.js';
import { readRss } from '../../src/system/process-usage.js';
import { cpuSeconds } from '../lib/measure.js';
import { floodPhases, type FloodPhases } from '../hostile/flood-memory.js';
import { smapsSplit } from './smaps.js';

const N = Number(process.env.FG_BENCH_CONNECTIONS ?? 15_000);
const WORKERS = Number(process.env.FG_BENCH_CLIENT_PROCESSES ?? 3);
const MEMORY_RATE = Number(process.env.FG_BENCH_MEMORY_RATE ?? N / 4);
const FLOOD_CONNS = Number(process.env.FG_BENCH_FLOOD_CONNECTIONS ?? 200);
const FLOOD_PUBLISHES = Number(process.env.FG_BENCH_FLOOD_PUBLISHES ?? 100);
/** Bytes of each flood publish's `data`; over ~16 KB the servers get `--max-payload` to match (the default refuses such frames). */
const FLOOD_PAYLOAD = Number(process.env.FG_BENCH_FLOOD_PAYLOAD ?? 10 * 1024);
const floodPayloadFlags = FLOOD_PAYLOAD + 256 > 16 * 1024 ? ['--max-payload', String(FLOOD_PAYLOAD + 1024)] : [];
/** Which parts to run: any of idle, burst, flood (comma-separated); all by default. */
const PARTS = new Set((process.env.FG_BENCH_MEMORY_PARTS ?? 'idle,burst,flood').split(','));
const root = new URL('../../', import.meta.url).pathname;
const baselineRoot = process.env.FG_BENCH_BASELINE_ROOT;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const KiB = 1024;

interface Variant { label: string; kind: 'ws' | 'floodgate'; mainJs?: string; flags?: string[] }
const variants: Variant[] = [
  { label: 'ws', kind: 'ws' },
  ...(baselineRoot ? [{ label: 'floodgate before (baseline checkout, defaults)', kind: 'floodgate' as const, mainJs: `${baselineRoot}/dist/cli/main.js` }] : []),
  { label: 'floodgate (defaults: youngGeneration small)', kind: 'floodgate' },
  { label: 'floodgate --young-generation grow', kind: 'floodgate', flags: ['--young-generation', 'grow'] },
];

interface ServerProc { child: ChildProcess; port: number }

async function startServer(v: Variant): Promise<ServerProc> {
  const args = v.kind === 'floodgate'
    ? [v.mainJs ?? `${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn', ...(v.flags ?? [])]
    : ['--import', 'tsx', `${root}benchmarks/server/ws-baseline.ts`, '511'];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${v.label} did not start within 60 s`)), 60_000);
    child.stdout!.on('data', (c) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) { clearTimeout(timer); resolve(JSON.parse(buf.slice(0, nl)).listen.port); }
    });
    child.once('exit', (code) => reject(new Error(`${v.label} exited ${code}`)));
  });
  return { child, port };
}

async function stopServer(s: ServerProc): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (s.child.exitCode === null) s.child.kill('SIGKILL');
}

/** `count` connections held `holdMs`; `settled` is called once every attempt has an outcome. */
async function drive(s: ServerProc, count: number, rate: number | undefined, holdMs: number, settled: (open: number) => void): Promise<BenchResult> {
  const r = bench({
    url: `ws://127.0.0.1:${s.port}/`, connections: count, rate, durationMs: holdMs, workers: WORKERS,
    sourceIps: '127.0.1.2-127.0.1.10', serverPid: s.child.pid, teardown: 'reset', tickMs: 250,
  });
  let fired = false;
  r.on('tick', (t: { open: number; total: { successes: number; failures: number } }) => {
    if (fired || t.total.successes + t.total.failures < count) return;
    fired = true;
    settled(t.open);
  });
  return await r;
}

/**
 * Waits at least `minMs`, then (floodgate with youngGeneration) until /stats shows the young
 * generation handed back, at most 30 s; returns the seconds waited past `minMs`.
 */
async function quiet(s: ServerProc, minMs: number, kind: Variant['kind']): Promise<number> {
  await sleep(minMs);
  if (kind === 'ws') return 0; // no /stats (and nothing to hand back)
  const t = Date.now();
  while (Date.now() - t < 30_000) {
    const young = await fetch(`http://127.0.0.1:${s.port}/stats`, { signal: AbortSignal.timeout(5000) }).then((r) => r.json()).then((j) => j.memory?.youngGeneration as number | undefined, () => undefined);
    if (young === undefined || young <= 4 * 1024 ** 2) break;
    await sleep(500);
  }
  return (Date.now() - t) / 1000;
}

interface IdleRow { label: string; held: number; rssBefore: number; rssAt3s: number; rssAt12s: number; perConn3s: number; perConn12s: number; brkHeapKiB: number; anonKiB: number; quietWait: number }

async function idleRun(v: Variant): Promise<IdleRow> {
  const s = await startServer(v);
  // start-up itself grows V8's young generation (to 16 MiB for floodgate): read "before" once the
  // gateway has been quiet long enough to hand it back, or the hand-back after the burst would be
  // credited to the connections
  await quiet(s, 6000, v.kind);
  const before = readRss(s.child.pid!)!;
  let at3 = 0;
  let at12 = 0;
  let split = { heap: 0, anon: 0, file: 0 };
  let held = 0;
  let quietWait = 0;
  // held long enough for a slow ramp on a loaded machine; the readings are timed from the settle
  await drive(s, N, MEMORY_RATE, 60_000, (open) => {
    held = open;
    setTimeout(() => (at3 = readRss(s.child.pid!) ?? 0), 3000);
    setTimeout(() => {
      quiet(s, 9000, v.kind).then((waited) => { at12 = readRss(s.child.pid!) ?? 0; split = smapsSplit(s.child.pid!); quietWait = waited; }, () => {});
    }, 3000);
  });
  await stopServer(s);
  if (at3 === 0 || at12 === 0 || held === 0) console.error(`${v.label}: the idle run did not settle with connections held 12 s before the hold ended (held ${held}, RSS +3 s ${at3}, +12 s ${at12})`);
  return {
    label: v.label, held, rssBefore: before, rssAt3s: at3, rssAt12s: at12,
    perConn3s: (at3 - before) / held, perConn12s: (at12 - before) / held, brkHeapKiB: split.heap, anonKiB: split.anon, quietWait,
  };
}

interface BurstRow { label: string; succeeded: number; cpuPer1000: number; p99: number }

async function burstRun(v: Variant): Promise<BurstRow> {
  const s = await startServer(v);
  await sleep(1000);
  const cpu0 = cpuSeconds(s.child.pid!);
  let cpu1 = 0;
  const r = await drive(s, N, undefined, 25_000, () => (cpu1 = cpuSeconds(s.child.pid!)));
  await stopServer(s);
  // not settled within the hold (a loaded machine): the row says so rather than ending the run
  if (cpu1 === 0) return { label: `${v.label} (not every attempt settled within the hold)`, succeeded: r.totals.successes, cpuPer1000: NaN, p99: r.latencyMs.handshake.p99 };
  return { label: v.label, succeeded: r.totals.successes, cpuPer1000: ((cpu1 - cpu0) / Math.max(1, r.totals.successes)) * 1000, p99: r.latencyMs.handshake.p99 };
}

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
const loadAtStart = load();
const t0 = Date.now();
const idle: IdleRow[] = [];
const burst: BurstRow[] = [];
const flood: FloodPhases[] = [];
for (const v of variants) {
  if (PARTS.has('idle')) idle.push(await idleRun(v));
  if (PARTS.has('burst')) burst.push(await burstRun(v));
  if (PARTS.has('flood') && v.kind === 'floodgate') {
    flood.push(await floodPhases(v.label, ['--history-ttl', '10s', ...floodPayloadFlags, ...(v.flags ?? [])], FLOOD_CONNS, FLOOD_PUBLISHES, 20_000, {}, v.mainJs, FLOOD_PAYLOAD));
  }
}
const loadAtEnd = load();

mkdirSync(`${root}benchmarks/results`, { recursive: true });
writeFileSync(`${root}benchmarks/results/memory.json`, JSON.stringify({ connections: N, clientProcesses: WORKERS, floodPayloadBytes: FLOOD_PAYLOAD, loadAverage: { start: loadAtStart, end: loadAtEnd }, idle, burst, flood }, null, 2));

const kib = (b: number): string => `${(b / KiB).toFixed(2)} KiB`;
const mb = (x: number): string => x.toFixed(1);
const ws = { idle: idle.find((r) => r.label === 'ws'), burst: burst.find((r) => r.label === 'ws') };
const ratio = (a: number, b: number | undefined): string => (b === undefined || b <= 0 ? '—' : (a / b).toFixed(2));
const def = idle.find((r) => r.label.startsWith('floodgate (defaults'));
const out = [
  '## Memory: per idle connection, per handshake, and the flood of distinct channels',
  '',
  `Reproduce: \`npm run bench -- memory\` (FG_BENCH_CONNECTIONS=${N}, ${WORKERS} client processes; \`FG_BENCH_BASELINE_ROOT=<built checkout>\` adds that checkout's gateway as "before"). One run, every server in turn; load average (1, 5, 15 min) at the start ${loadAtStart}, at the end ${loadAtEnd}; suite time ${Math.round((Date.now() - t0) / 1000)} s.`,
  '',
];
if (idle.length > 0) {
  out.push(
    `RSS per idle connection, ${N.toLocaleString('en-US')} held (opened at ${Math.round(MEMORY_RATE)}/s): (RSS − RSS before) / held, 3 s after the last connection settled and once quiet (12 s after, and for floodgate once /stats shows the young generation handed back, at most 30 s more: the wait is in the last column); "before" is read the same way after start:`,
    '',
    '| server | held | RSS before | +3 s | per connection (+3 s) | quiet | per connection (quiet) | ratio to ws (quiet) | glibc heap / anonymous (quiet) | waited past +12 s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...idle.map((r) => `| ${r.label} | ${r.held} | ${kib(r.rssBefore)} | ${kib(r.rssAt3s)} | ${kib(r.perConn3s)} | ${kib(r.rssAt12s)} | **${kib(r.perConn12s)}** | ${ratio(r.perConn12s, ws.idle?.perConn12s)} | ${mb(r.brkHeapKiB / 1024)} / ${mb(r.anonKiB / 1024)} MB | ${r.quietWait.toFixed(1)} s |`),
    '',
    `Goal (issue 15): ≤ 4 KiB per idle connection with the defaults, after the burst settles: ${def ? `${kib(def.perConn12s)} once quiet (${kib(def.perConn3s)} at +3 s) — ${def.perConn12s <= 4096 ? 'met' : 'not met'}` : 'not measured'}.`,
    '',
  );
}
if (burst.length > 0) {
  out.push(
    `Server CPU per handshake, a burst of ${N.toLocaleString('en-US')} simultaneous upgrades:`,
    '',
    '| server | succeeded | server CPU s / 1,000 handshakes | ratio to ws | p99 handshake |',
    '|---|---:|---:|---:|---:|',
    ...burst.map((r) => `| ${r.label} | ${r.succeeded}/${N} | ${r.cpuPer1000.toFixed(3)} | ${ratio(r.cpuPer1000, ws.burst?.cpuPer1000)} | ${r.p99.toFixed(0)} ms |`),
    '',
  );
}
if (flood.length > 0) {
  out.push(
    `Flood of issue 10: ${FLOOD_CONNS} connections × ${FLOOD_PUBLISHES} publishes of ${FLOOD_PAYLOAD >= 1024 ? `${+(FLOOD_PAYLOAD / 1024).toFixed(1)} KB` : `${FLOOD_PAYLOAD} B`} to distinct channels, \`--history-ttl 10s${floodPayloadFlags.length > 0 ? ` ${floodPayloadFlags.join(' ')}` : ''}\`; RSS from /proc, split from /proc/<pid>/smaps (glibc heap = C allocations of the main thread, Buffers among them; anonymous = V8's heap and the rest):`,
    '',
    '| server | RSS before (MB) | peak (MB) | peak growth (MB) | after expiry (MB) | above before, after expiry (MB) | glibc heap / anonymous after expiry (MB) | history at the flood (MB) | server CPU per publish (µs) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...flood.map((f) => {
      const e = f.expired ?? f.left;
      return `| ${f.label} | ${mb(f.baseline.rssMB)} | ${mb(f.peakRssMB)} | **${mb(f.peakRssMB - f.baseline.rssMB)}** | ${mb(e.rssMB)} | **${mb(e.rssMB - f.baseline.rssMB)}** | ${mb(e.brkHeapMB)} / ${mb(e.anonMB)} | ${mb(f.flooded.historyMB)} | ${((f.cpuSeconds / Math.max(1, f.answered + f.refused)) * 1e6).toFixed(0)} |`;
    }),
    '',
    'Goal (issue 10): with the defaults the flood grows RSS by less than ~100 MB and RSS comes back down once the channels have expired.',
    '',
  );
}
process.stdout.write(`${out.join('\n')}\n`);
process.exit(0);
