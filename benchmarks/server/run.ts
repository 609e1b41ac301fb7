/**
 * Server suite: floodgate serve vs a plain `ws` server, in the same run.
 *  1. RSS per idle connection with 15,000 connections held.
 *  2. A 15,000-connection simultaneous burst with default settings: TcpExt.ListenOverflows delta
 *     and handshake latency percentiles (client-side, connect() → 101).
 * Clients are raw-socket worker processes spread over 127.0.0.x source addresses (one process may
 * hold at most 20,000 fds here). Prints a markdown section; writes benchmarks/results/server.json.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { counterDelta, readKernelCounters } from '../../src/system/kernel-counters.js';
import { readRss } from '../../src/system/process-usage.js';

const N = Number(process.env.FG_BENCH_CONNECTIONS ?? 15_000);
let WORKERS = Number(process.env.FG_BENCH_CLIENT_PROCESSES ?? 3);
const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ServerProc { name: string; child: ChildProcess; port: number }

async function startServer(name: 'floodgate' | 'ws'): Promise<ServerProc> {
  const args = name === 'floodgate'
    ? [`${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn']
    : ['--import', 'tsx', `${root}benchmarks/server/ws-baseline.ts`, '511'];
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

interface LoadResult { latencies: number[]; failures: Record<string, number>; close(): Promise<void> }

async function load(port: number, count: number, spreadMs: number): Promise<LoadResult> {
  const workers = Array.from({ length: WORKERS }, () =>
    fork(`${root}benchmarks/server/load-worker.ts`, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }));
  const results = await Promise.all(workers.map((w, i) => new Promise<{ latencies: number[]; failures: Record<string, number> }>((resolve) => {
    w.once('message', (m: any) => resolve(m));
    const share = Math.floor(count / WORKERS) + (i < count % WORKERS ? 1 : 0);
    const sourceIps = [2, 3, 4].map((k) => `127.0.${i + 1}.${k}`);
    w.send({ cmd: 'open', port, count: share, sourceIps, spreadMs });
  })));
  const latencies = results.flatMap((r) => r.latencies);
  const failures: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
  return {
    latencies, failures,
    close: async () => {
      await Promise.all(workers.map((w) => new Promise((r) => { w.once('exit', r); w.send({ cmd: 'close' }); })));
    },
  };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function memoryRun(name: 'floodgate' | 'ws') {
  const s = await startServer(name);
  await sleep(1000);
  const before = readRss(s.child.pid!)!;
  const l = await load(s.port, N, 4000);
  await sleep(3000);
  const after = readRss(s.child.pid!)!;
  const held = l.latencies.length;
  await l.close();
  await stopServer(s);
  return { server: name, held, failures: l.failures, rssBefore: before, rssAfter: after, bytesPerConnection: Math.round((after - before) / held) };
}

/** User + system CPU seconds of a process, from /proc/<pid>/stat (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function burstRun(name: 'floodgate' | 'ws') {
  const s = await startServer(name);
  await sleep(1000);
  const k0 = readKernelCounters();
  const cpu0 = cpuSeconds(s.child.pid!);
  const l = await load(s.port, N, 0);
  const cpu1 = cpuSeconds(s.child.pid!);
  const k1 = readKernelCounters();
  const d = counterDelta(k0, k1);
  const sorted = [...l.latencies].sort((a, b) => a - b);
  await l.close();
  await stopServer(s);
  return {
    server: name, clientProcesses: WORKERS, attempts: N, succeeded: sorted.length, failures: l.failures,
    listenOverflows: d['TcpExt.ListenOverflows'] ?? 0, listenDrops: d['TcpExt.ListenDrops'] ?? 0,
    p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted[sorted.length - 1],
    atOrAboveOneSecond: sorted.filter((x) => x >= 1000).length,
    serverCpuPer1000: ((cpu1 - cpu0) / Math.max(1, sorted.length)) * 1000,
  };
}

// FG_BENCH_QUICK=memory (or burst) runs one part only, for iterating on the server
const only = process.env.FG_BENCH_QUICK;
const memory = only === 'burst' ? [] : [await memoryRun('ws'), await memoryRun('floodgate')];
const burst = only === 'memory' ? [] : [await burstRun('ws'), await burstRun('floodgate')];
// The same burst from one client process: the server then has a core of its own, which is what
// separates "the server cannot keep up" from "the clients starved the server of CPU".
if (only !== 'memory' && WORKERS !== 1) {
  const saved = WORKERS;
  WORKERS = 1;
  burst.push(await burstRun('ws'), await burstRun('floodgate'));
  WORKERS = saved;
}
if (only) {
  console.log(JSON.stringify({ memory, burst }, null, 1));
  process.exit(0);
}

mkdirSync(`${root}benchmarks/results`, { recursive: true });
writeFileSync(`${root}benchmarks/results/server.json`, JSON.stringify({ connections: N, clientProcesses: WORKERS, memory, burst }, null, 2));

const kb = (b: number) => `${(b / 1024).toFixed(2)} KiB`;
const ms = (x: number) => `${x.toFixed(0)} ms`;
const [mw, mf] = memory;
const [bw, bf] = burst;
const out = [
  '## Server: memory per idle connection and a 15,000-connection burst',
  '',
  `Reproduce: \`npm run build && node --import tsx benchmarks/server/run.ts\` (FG_BENCH_CONNECTIONS=${N}, ${WORKERS} raw-socket client processes over 127.0.x.y source addresses; client and server share the 2 cores).`,
  '',
  '| server | held | RSS before | RSS after | RSS per connection | ratio to ws |',
  '|---|---|---|---|---|---|',
  ...memory.map((m) => `| ${m.server} | ${m.held} | ${kb(m.rssBefore)} | ${kb(m.rssAfter)} | **${kb(m.bytesPerConnection)}** | ${(m.bytesPerConnection / mw.bytesPerConnection).toFixed(2)} |`),
  '',
  `Goal: ≤ 4 KiB per idle connection. Measured: floodgate ${kb(mf.bytesPerConnection)}, plain ws ${kb(mw.bytesPerConnection)}.`,
  '',
  '| server (defaults) | backlog | client processes | succeeded | failures | ListenOverflows Δ | p50 | p99 | max | ≥ 1 s | server CPU s / 1,000 handshakes |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...burst.map((b) => `| ${b.server} | ${b.server === 'ws' ? 511 : 'somaxconn'} | ${b.clientProcesses} | ${b.succeeded}/${b.attempts} | ${JSON.stringify(b.failures)} | ${b.listenOverflows} | ${ms(b.p50)} | ${ms(b.p99)} | ${ms(b.max)} | ${b.atOrAboveOneSecond} | ${b.serverCpuPer1000.toFixed(3)} |`),
  '',
  `Goal: zero ListenOverflows and p99 < 300 ms. Measured (${WORKERS} client processes): floodgate ${bf.listenOverflows} overflows, p99 ${ms(bf.p99)}; plain ws (backlog 511) ${bw.listenOverflows} overflows, p99 ${ms(bw.p99)}.`,
  '',
  'Reading: 15,000 handshakes cost the server at least 15 × its CPU per 1,000 (about 2 s of one core here), so a p99 under 300 ms for 15,000 truly simultaneous attempts is out of reach of one Node process on this machine, whatever the backlog; what the server controls is whether the excess waits in user space (no kernel drops, no 1 s / 3 s SYN retransmits) or is dropped by the kernel. With three client processes competing for the two cores the server is starved during the burst and the 4,096-deep kernel queue still overflows; with one client process it does not.',
  '',
];
process.stdout.write(out.join('\n'));
