/**
 * Server suite: floodgate serve vs a plain `ws` server and a Socket.IO 4 server, in the same run,
 * in ROUNDS alternating rounds (ws, floodgate, Socket.IO in each) so a change in the machine's
 * load hits them alike; the tables show every round and the ratios are medians of the per-round
 * ratios.
 *  1. RSS per idle connection with 15,000 connections held (floodgate with Node's defaults, and
 *     with a 1 MiB young generation, `--max-semi-space-size=1`, to show what that trade buys).
 *  2. A 15,000-connection simultaneous burst with default settings: server CPU per handshake
 *     (from /proc/<server pid>/stat, the server process only), TcpExt.ListenOverflows delta and
 *     handshake latency percentiles (client-side, connect() → 101).
 * The load is driven by `floodgate bench` itself (its programmatic `run()`), in several worker
 * processes (one may hold at most 20,000 fds here) over 127.0.1.x source addresses. The client
 * processes run at nice 10, so on a shared box they do not take the cores from the server they
 * measure (the server's CPU time is its own either way; starving it changes how it batches).
 * FG_BENCH_PROFILE=<dir> writes a V8 CPU profile of every burst's server there;
 * FG_BENCH_FLOODGATE_MAIN=<path to another build's dist/cli/main.js> measures that build instead (A/B).
 * Prints a markdown section; writes benchmarks/results/server.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, setPriority } from 'node:os';
// the built generator (npm run bench builds first): its workers start as plain JS, not through tsx
import { run as bench } from '../../dist/loadgen/run.js';
import type { BenchResult } from '../../src/loadgen/types.js';
import { counterDelta, readKernelCounters } from '../../src/system/kernel-counters.js';
import { readRss } from '../../src/system/process-usage.js';

const N = Number(process.env.FG_BENCH_CONNECTIONS ?? 15_000);
let WORKERS = Number(process.env.FG_BENCH_CLIENT_PROCESSES ?? 3);
/** Arrival rate of the memory runs, connections per second. */
const MEMORY_RATE = Number(process.env.FG_BENCH_MEMORY_RATE ?? N / 4);
/** Alternating rounds (ws, floodgate) of each measurement. */
const ROUNDS = Number(process.env.FG_BENCH_ROUNDS ?? 3);
const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The young-generation size that trades handshake CPU for memory (see the memory table). */
const SMALL_YOUNG_GEN = '--max-semi-space-size=1';

/** Client processes' nice value: below the servers' (0), so the clients do not starve the server. */
const CLIENT_NICE = 10;
const PROFILE_DIR = process.env.FG_BENCH_PROFILE;

type ServerName = 'floodgate' | 'ws' | 'socket.io';
const SERVERS: ServerName[] = ['ws', 'floodgate', 'socket.io'];
interface ServerProc { name: ServerName; child: ChildProcess; port: number }

/** How each server is reached: its URL path, and the text a client sends once open (Socket.IO's namespace connect). */
const CLIENT: Record<ServerName, { path: string; openText?: string }> = {
  floodgate: { path: '/' },
  ws: { path: '/' },
  'socket.io': { path: '/socket.io/?EIO=4&transport=websocket', openText: '40' },
};

async function startServer(name: ServerName, nodeFlags: string[] = []): Promise<ServerProc> {
  const args = name === 'floodgate'
    ? [...nodeFlags, process.env.FG_BENCH_FLOODGATE_MAIN ?? `${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn']
    : [...nodeFlags, '--import', 'tsx', `${root}benchmarks/server/${name === 'ws' ? 'ws-baseline' : 'socketio-baseline'}.ts`, '511'];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)).listen.port);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
  return { name, child, port };
}

async function stopServer(s: ServerProc): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (s.child.exitCode === null) s.child.kill('SIGKILL');
}

interface Drive {
  count: number;
  /** Arrivals per second; omitted = all at once. */
  rate?: number;
  holdMs: number;
  /** Called once, when every attempt has succeeded or failed, with the connections open then. */
  settled(open: number): void;
}

/** Every thread of a process to `nice` (raising it needs no privilege; the clients only go up). */
function renice(pid: number, nice: number): void {
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return; // gone already
  }
  for (const t of tasks) {
    try {
      setPriority(Number(t), nice);
    } catch {
      // a thread that ended meanwhile
    }
  }
}

interface Tick { open: number; t: number; total: { successes: number; failures: number } }

/** Drives a server with `floodgate bench`: `count` connections, held, then reset. */
async function drive(s: ServerProc, d: Drive & { onTick?(t: Tick): void; onClosing?(): void }): Promise<BenchResult> {
  const run = bench({
    url: `ws://127.0.0.1:${s.port}${CLIENT[s.name].path}`,
    openText: CLIENT[s.name].openText,
    connections: d.count,
    rate: d.rate,
    durationMs: d.holdMs,
    workers: WORKERS,
    sourceIps: '127.0.1.2-127.0.1.10',
    serverPid: s.child.pid,
    teardown: 'reset',
    tickMs: 250,
  });
  run.on('workers', (pids: number[]) => {
    for (const pid of pids) renice(pid, CLIENT_NICE);
  });
  if (d.onClosing) run.on('closing', d.onClosing);
  let fired = false;
  run.on('tick', (t: Tick) => {
    d.onTick?.(t);
    if (fired || t.total.successes + t.total.failures < d.count) return;
    fired = true;
    d.settled(t.open);
  });
  return await run;
}

function failuresOf(r: BenchResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of r.failures) out[`${f.kind} (${f.side})`] = (out[`${f.kind} (${f.side})`] ?? 0) + f.count;
  return out;
}

/** Seconds after every attempt had an outcome: the first reading, and the one "after the burst settles". */
const RSS_EARLY_S = 3;
const RSS_QUIET_S = 12;

async function memoryRun(name: ServerName, nodeFlags: string[] = []) {
  const s = await startServer(name, nodeFlags);
  await sleep(1000);
  const pid = s.child.pid!;
  const before = readRss(pid)!;
  // RSS is read 3 s after every attempt had an outcome, and again 12 s after, once the burst has
  // settled (a runtime that hands memory back when idle, like floodgate's young generation, has
  // done so by then; every server gets the same wait). On a machine so loaded that some attempt
  // is still retrying its SYN when the hold ends, the last reading before the teardown is used
  // instead, per connection open at that moment (flagged in the table).
  let held = 0;
  let after = 0;
  let quiet = 0;
  let closing = false;
  let last: { open: number; rss: number } | undefined;
  const rampEnd = Date.now() + (N / MEMORY_RATE) * 1000 + 3000;
  const r = await drive(s, {
    count: N,
    // over 4 s by default: the memory of held connections, not of a flood (FG_BENCH_MEMORY_RATE
    // lowers it when the machine is too loaded for either server to keep up)
    rate: MEMORY_RATE,
    // long enough for the quiet reading after SYN retransmits of up to 7 s
    holdMs: (RSS_QUIET_S + 8) * 1000,
    onTick: (t) => {
      if (closing || Date.now() < rampEnd || t.open === 0) return;
      const rss = readRss(pid);
      if (rss !== undefined) last = { open: t.open, rss };
    },
    onClosing: () => (closing = true),
    settled: (open) => {
      held = open;
      setTimeout(() => {
        if (!closing) after = readRss(pid) ?? 0;
      }, RSS_EARLY_S * 1000);
      setTimeout(() => {
        if (!closing) quiet = readRss(pid) ?? 0;
      }, RSS_QUIET_S * 1000);
    },
  });
  await stopServer(s);
  const label = nodeFlags.length > 0 ? `${name} (${nodeFlags.join(' ')})` : name;
  const settled = held > 0 && after > 0;
  if (!settled && last !== undefined) {
    held = last.open;
    after = last.rss;
  }
  // fail loudly rather than divide by a made-up count: no reading while connections were held
  if (held === 0 || after === 0) {
    throw new Error(`${label}: no RSS reading with connections held (held ${held}, RSS after ${after}); failures ${JSON.stringify(failuresOf(r))}`);
  }
  return {
    server: label, held, settled, failures: failuresOf(r), rssBefore: before, rssAfter: after,
    bytesPerConnection: Math.round((after - before) / held),
    rssQuiet: settled && quiet > 0 ? quiet : undefined,
    bytesPerConnectionQuiet: settled && quiet > 0 ? Math.round((quiet - before) / held) : undefined,
  };
}

/** User and system CPU seconds of one process (utime and stime of /proc/<pid>/stat). */
function cpuSplit(pid: number): { user: number; system: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { user: Number(x[11]) / 100, system: Number(x[12]) / 100 };
}

/** Ticks of the generator (250 ms) after every attempt settled before the server's CPU is read: its trailing work (the last frames, GC of the handshakes' garbage) belongs to the burst. */
const TRAIL_TICKS = 4;

async function burstRun(name: ServerName) {
  const s = await startServer(name, PROFILE_DIR ? [`--cpu-prof`, `--cpu-prof-dir=${PROFILE_DIR}/${name}`] : []);
  await sleep(1000);
  const pid = s.child.pid!;
  const k0 = readKernelCounters();
  const load0 = loadavg()[0];
  const cpu0 = cpuSplit(pid);
  // The CPU is read at every tick; the reading used is TRAIL_TICKS after every attempt had an
  // outcome, or (on a machine so loaded that some attempt is still retrying its SYN at the end of
  // the hold) the last one before the teardown, per handshake that had succeeded by then.
  let reading: { cpu: { user: number; system: number }; successes: number; settled: boolean } | undefined;
  let settledAt = -1;
  let ticks = 0;
  let closing = false;
  let k1 = k0;
  const r = await drive(s, {
    count: N,
    // held well past the slowest handshake (SYN retransmits at 1, 3, 7 s) so the CPU is read once all settled
    holdMs: 12_000,
    onTick: (t) => {
      ticks++;
      if (closing || (reading?.settled ?? false)) return;
      const settled = settledAt >= 0 && ticks - settledAt >= TRAIL_TICKS;
      reading = { cpu: cpuSplit(pid), successes: t.total.successes, settled };
    },
    onClosing: () => (closing = true),
    settled: () => {
      settledAt = ticks;
      k1 = readKernelCounters();
    },
  });
  await stopServer(s);
  if (reading === undefined || reading.successes === 0) throw new Error(`${name}: no handshake succeeded before the teardown; failures ${JSON.stringify(failuresOf(r))}`);
  if (settledAt < 0) k1 = readKernelCounters();
  const d = counterDelta(k0, k1);
  const hs = r.latencyMs.handshake;
  return {
    server: name, clientProcesses: WORKERS, attempts: N, succeeded: r.totals.successes, failures: failuresOf(r),
    listenOverflows: d['TcpExt.ListenOverflows'] ?? 0, listenDrops: d['TcpExt.ListenDrops'] ?? 0,
    p50: hs.p50, p90: hs.p90, p99: hs.p99, max: hs.max,
    serverUserSeconds: Number((reading.cpu.user - cpu0.user).toFixed(2)),
    serverSystemSeconds: Number((reading.cpu.system - cpu0.system).toFixed(2)),
    cpuReadAfterAllSettled: reading.settled,
    serverCpuPer1000: ((reading.cpu.user - cpu0.user + reading.cpu.system - cpu0.system) / reading.successes) * 1000,
    loadAverage1m: Number(((load0 + loadavg()[0]) / 2).toFixed(2)),
    diagnosis: [r.diagnosis?.headline, ...(r.diagnosis?.causes ?? []).map((c) => c.verdict)].filter(Boolean).join(' '),
  };
}

const median = (xs: number[]): number => {
  const v = [...xs].sort((x, y) => x - y);
  return v.length === 0 ? NaN : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
// FG_BENCH_RENDER_FROM=<a server.json of an earlier run>: no measurement, only the section rendered again
const renderFrom = process.env.FG_BENCH_RENDER_FROM ? JSON.parse(readFileSync(process.env.FG_BENCH_RENDER_FROM, 'utf8')) : undefined;
const loadAtStart: string = renderFrom?.loadAverage?.start ?? load();

// FG_BENCH_QUICK=memory (or burst) runs one part only, for iterating on the server;
// FG_BENCH_SERVERS=ws,floodgate leaves out the others
const only = process.env.FG_BENCH_QUICK;
const servers = (process.env.FG_BENCH_SERVERS?.split(',') as ServerName[] | undefined) ?? SERVERS;
for (const name of servers) if (!SERVERS.includes(name)) throw new Error(`FG_BENCH_SERVERS: unknown server ${name}; the servers are ${SERVERS.join(', ')}`);
type MemoryRow = Awaited<ReturnType<typeof memoryRun>> & { round: number };
type BurstRow = Awaited<ReturnType<typeof burstRun>> & { round: number };
const memory: MemoryRow[] = [];
const burst: BurstRow[] = [];
/** Runs that failed (a peer that never settled, say): shown, never silently dropped. */
const failed: { round: number; part: string; server: string; error: string }[] = [];
async function attempt<T>(round: number, part: string, server: string, f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    failed.push({ round, part, server, error: (err as Error).message });
    process.stderr.write(`server suite: round ${round}, ${part}, ${server} failed: ${(err as Error).message}\n`);
    return undefined;
  }
}
if (renderFrom) {
  memory.push(...(renderFrom.memory ?? []));
  burst.push(...(renderFrom.burst ?? []));
  failed.push(...(renderFrom.failed ?? []));
}
for (let round = 1; round <= (renderFrom ? 0 : ROUNDS); round++) {
  // the order alternates from round to round, so a drift in the machine's load does not always favour the same server
  const order = round % 2 === 1 ? servers : [...servers].reverse();
  if (only !== 'burst') {
    // the young-generation trade-off is shown once (round 1); the comparison runs every round
    const runs: [ServerName, string[]][] = order.map((name) => [name, []]);
    if (round === 1 && servers.includes('floodgate')) runs.push(['floodgate', [SMALL_YOUNG_GEN]]);
    for (const [name, flags] of runs) {
      const m = await attempt(round, 'memory', name, () => memoryRun(name, flags));
      if (m) memory.push({ round, ...m });
    }
  }
  if (only !== 'memory') {
    for (const name of order) {
      const b = await attempt(round, 'burst', name, () => burstRun(name));
      if (b) burst.push({ round, ...b });
    }
    // FG_BENCH_ONE_CLIENT=1: the same burst from one client process (round 1), which separates "the
    // server cannot keep up" from "the clients starved the server of CPU". Off by default: with the
    // clients at nice 10 the server is not starved by them, and it adds minutes to a loaded run.
    if (WORKERS !== 1 && round === 1 && process.env.FG_BENCH_ONE_CLIENT === '1') {
      const saved = WORKERS;
      WORKERS = 1;
      for (const name of order.filter((n) => n !== 'socket.io')) {
        const b = await attempt(round, 'burst', name, () => burstRun(name));
        if (b) burst.push({ round, ...b });
      }
      WORKERS = saved;
    }
  }
}
const loadAtEnd: string = renderFrom?.loadAverage?.end ?? load();
if (only) {
  console.log(JSON.stringify({ memory, burst, failed, loadAtStart, loadAtEnd }, null, 1));
  process.exit(0);
}

/** Per round, `server`'s figure over `peer`'s in the same round; the median of those. */
function medianRatio<T extends { round: number; server: string }>(rows: T[], server: string, peer: string, value: (r: T) => number, filter: (r: T) => boolean = () => true): number {
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const a = rows.find((r) => r.round === round && r.server === server && filter(r));
    const b = rows.find((r) => r.round === round && r.server === peer && filter(r));
    if (a && b && value(b) > 0) ratios.push(value(a) / value(b));
  }
  return median(ratios);
}
const medianOf = <T extends { server: string }>(rows: T[], server: string, value: (r: T) => number): number => median(rows.filter((r) => r.server === server).map(value));
/** Per connection once settled (the goal's reading), the +3 s reading where there is none. */
const perConn = (m: MemoryRow) => m.bytesPerConnectionQuiet ?? m.bytesPerConnection;
const memRatio = medianRatio(memory, 'floodgate', 'ws', perConn);
const memRatioSio = medianRatio(memory, 'floodgate', 'socket.io', perConn);
const fgMem = medianOf(memory, 'floodgate', perConn);
const wsMem = medianOf(memory, 'ws', perConn);
const sioMem = medianOf(memory, 'socket.io', perConn);
const fgSmallMem = median(memory.filter((m) => m.server !== 'floodgate' && m.server.startsWith('floodgate')).map(perConn));
const many = burst.filter((b) => b.clientProcesses === WORKERS);
const one = burst.filter((b) => b.clientProcesses === 1 && WORKERS !== 1);
const cpu = (b: BurstRow) => b.serverCpuPer1000;
const cpuRatio = medianRatio(many, 'floodgate', 'ws', cpu);
const cpuRatioSio = medianRatio(many, 'floodgate', 'socket.io', cpu);
const cpuRatio1 = medianRatio(one, 'floodgate', 'ws', cpu);
const fgCpu = medianOf(many, 'floodgate', cpu);
const wsCpu = medianOf(many, 'ws', cpu);
const sioCpu = medianOf(many, 'socket.io', cpu);
const fgBurst = many.filter((b) => b.server === 'floodgate');
const wsBurst = many.filter((b) => b.server === 'ws');
const sioBurst = many.filter((b) => b.server === 'socket.io');
const CPU_GOAL = 0.85;
const MEMORY_GOAL = 4096;

mkdirSync(`${root}benchmarks/results`, { recursive: true });
if (!renderFrom) writeFileSync(`${root}benchmarks/results/server.json`, JSON.stringify({
  connections: N, clientProcesses: WORKERS, clientNice: CLIENT_NICE, rounds: ROUNDS, servers, loadAverage: { start: loadAtStart, end: loadAtEnd },
  medians: {
    floodgateBytesPerConnection: fgMem, wsBytesPerConnection: wsMem, socketioBytesPerConnection: sioMem, memoryRatio: memRatio, memoryRatioSocketio: memRatioSio,
    floodgateCpuPer1000: fgCpu, wsCpuPer1000: wsCpu, socketioCpuPer1000: sioCpu,
    cpuPerHandshakeRatio: cpuRatio, cpuPerHandshakeRatioSocketio: cpuRatioSio, cpuPerHandshakeRatioOneClientProcess: cpuRatio1,
  },
  memory, burst, failed,
}, null, 2));

const kb = (b: number) => `${(b / 1024).toFixed(2)} KiB`;
const ms = (x: number) => `${x.toFixed(0)} ms`;
const pct = (x: number) => x.toFixed(2);
const us = (per1000: number) => `${(per1000 * 1000).toFixed(0)} µs`;
const verdict = (ok: boolean, known: boolean) => (!known ? 'not measured (see the failed runs)' : ok ? 'met' : 'not met');
const out = [
  '## Server: memory per idle connection and a connection burst',
  '',
  `Reproduce: \`npm run bench -- server\` (FG_BENCH_CONNECTIONS=${N}; load driven by \`floodgate bench\`'s \`run()\` in ${WORKERS} worker processes at nice ${CLIENT_NICE} over 127.0.1.2–10 source addresses; clients and server share the 2 cores; server CPU from /proc/<pid>/stat of the server process alone).`,
  '',
  `${N.toLocaleString('en-US')} connections held (opened at ${Math.round(MEMORY_RATE)}/s), then a burst of ${N.toLocaleString('en-US')} simultaneous upgrades; ${ROUNDS} rounds, ${servers.join(', ')} alternating in each (the order reversed every other round). Load average (1, 5, 15 min) at the start ${loadAtStart}, at the end ${loadAtEnd} (on shared cores the absolute figures move with it; the ratios are per round). Peers: \`ws\` as most people run it (http.Server + WebSocketServer, backlog 511), Socket.IO 4 with the WebSocket transport only (a client counts once its namespace connect \`40\` is answered).`,
  '',
  ...(failed.length > 0 ? ['**Runs that failed** (left out of the medians):', '', ...failed.map((f) => `- round ${f.round}, ${f.part}, ${f.server}: ${f.error}`), ''] : []),
  ...(memory.some((m) => m.bytesPerConnection <= 0)
    ? [`**RSS moved by less than its noise in this run** (a per-connection figure ≤ 0): ${N.toLocaleString('en-US')} connections are too few to measure memory per connection; run with more (FG_BENCH_CONNECTIONS).`, '']
    : []),
  `| round | server | held | RSS before | RSS +${RSS_EARLY_S} s | per connection +${RSS_EARLY_S} s | RSS settled (+${RSS_QUIET_S} s) | per connection settled | ratio to ws (settled, same round) |`,
  '|---|---|---|---|---|---|---|---|---|',
  ...memory.map((m) => {
    const w = memory.find((x) => x.round === m.round && x.server === 'ws');
    return `| ${m.round} | ${m.server} | ${m.held}${m.settled === false ? ' ¹' : ''} | ${kb(m.rssBefore)} | ${kb(m.rssAfter)} | ${kb(m.bytesPerConnection)} | ${m.rssQuiet === undefined ? '–' : kb(m.rssQuiet)} | **${m.bytesPerConnectionQuiet === undefined ? '–' : kb(m.bytesPerConnectionQuiet)}** | ${w ? pct(perConn(m) / perConn(w)) : '–'} |`;
  }),
  '',
  ...(memory.some((m) => m.settled === false) ? ['¹ Some attempt had not settled by the end of the hold: RSS read at the last tick before the teardown, per connection open then (no settled reading).', ''] : []),
  `Goal: ≤ ${MEMORY_GOAL / 1024} KiB per idle connection with the default settings, measured after the burst settles (+${RSS_QUIET_S} s; the +${RSS_EARLY_S} s reading where a run has none). Median of ${ROUNDS} rounds: floodgate ${kb(fgMem)}, plain ws ${kb(wsMem)} (floodgate/ws ${pct(memRatio)}), Socket.IO ${kb(sioMem)} (floodgate/Socket.IO ${pct(memRatioSio)}) — ${verdict(fgMem <= MEMORY_GOAL, !Number.isNaN(fgMem))}. ` +
    `Part of each figure is not per connection at all: V8's young generation grows while the handshakes allocate, and (after − before) / held charges that to the connections (the difference with \`${SMALL_YOUNG_GEN}\` in this run: ${kb(fgMem - fgSmallMem)} per connection). ` +
    `Started with \`NODE_OPTIONS=${SMALL_YOUNG_GEN}\`, floodgate holds them in ${kb(fgSmallMem)}; the price is CPU per handshake during floods, so it is an opt-in for memory-bound deployments, not the default.`,
  '',
  '| round | server (defaults) | backlog | client processes | load avg (1 min) | succeeded | failures | ListenOverflows Δ | p50 | p90 | p99 | max | server CPU s, user + system | server CPU s / 1,000 handshakes |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...burst.map((b) => `| ${b.round} | ${b.server} | ${b.server === 'floodgate' ? 'somaxconn' : 511} | ${b.clientProcesses} | ${b.loadAverage1m.toFixed(2)} | ${b.succeeded}/${b.attempts} | ${Object.keys(b.failures).length ? JSON.stringify(b.failures) : 'none'} | ${b.listenOverflows} | ${ms(b.p50)} | ${ms(b.p90)} | ${ms(b.p99)} | ${ms(b.max)} | ${b.serverUserSeconds.toFixed(2)} + ${b.serverSystemSeconds.toFixed(2)} | ${b.serverCpuPer1000.toFixed(3)}${b.cpuReadAfterAllSettled ? '' : ' ¹'} |`),
  '',
  ...(burst.some((b) => !b.cpuReadAfterAllSettled) ? ['¹ Some attempt had not settled by the end of the hold: CPU read at the last tick before the teardown, per handshake that had succeeded by then.', ''] : []),
  `Goal: server CPU per handshake (admission, auth check, welcome frame included) ≤ ${CPU_GOAL}× plain ws. Median of the per-round ratios, ${WORKERS} client processes: floodgate/ws ${pct(cpuRatio)}${Number.isNaN(cpuRatio1) ? '' : `; one client process: ${pct(cpuRatio1)}`} — ${verdict(cpuRatio <= CPU_GOAL, !Number.isNaN(cpuRatio))}. ` +
    `Medians per handshake: floodgate ${us(fgCpu)}, ws ${us(wsCpu)}, Socket.IO ${us(sioCpu)} (floodgate/Socket.IO ${pct(cpuRatioSio)}).`,
  '',
  `Goal: zero ListenOverflows and p99 < 300 ms. Per round (${WORKERS} client processes): floodgate ${fgBurst.map((b) => `${b.listenOverflows} overflows, p99 ${ms(b.p99)}`).join('; ')}; plain ws (backlog 511) ${wsBurst.map((b) => `${b.listenOverflows} overflows, p99 ${ms(b.p99)}`).join('; ')}${sioBurst.length ? `; Socket.IO (backlog 511) ${sioBurst.map((b) => `${b.listenOverflows} overflows, p99 ${ms(b.p99)}`).join('; ')}` : ''} — ${verdict(fgBurst.every((b) => b.listenOverflows === 0 && b.p99 < 300), fgBurst.length > 0)}. ListenOverflows is a machine-wide kernel counter: other processes' listeners add to it.`,
  '',
  ...burst.filter((b) => b.diagnosis).map((b) => `- \`floodgate bench\`'s own diagnosis, round ${b.round}, ${b.server}, ${b.clientProcesses} client process(es): ${b.diagnosis}`),
  '',
  `Reading: ${N.toLocaleString('en-US')} handshakes cost the server at least ${N / 1000} × its CPU per 1,000 (${(fgCpu * N / 1000).toFixed(1)} s of one core for floodgate in this run, median), so the p99 of ${N.toLocaleString('en-US')} truly simultaneous attempts cannot be below that on one Node process, whatever the backlog; what the server controls is whether the excess waits in user space (no kernel drops, no 1 s / 3 s SYN retransmits) or is dropped by the kernel.${one.length > 0 ? ' The rows with one client process show the same burst when the clients do not compete with the server for the cores.' : ''} \`--workers 2\` (scale suite) spreads the accepts over both cores.`,
  '',
];
process.stdout.write(out.join('\n'));
