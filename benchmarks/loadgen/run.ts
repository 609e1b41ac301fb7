// Load generator cost, against the `ws` npm client in the same run: RSS per held connection and
// CPU seconds per 1,000 handshakes, for N connections (FG_BENCH_CONNECTIONS, default 15,000)
// spread over source IPs and 2 worker processes. Prints a markdown section; writes
// benchmarks/results/loadgen.json. Run: node --import tsx benchmarks/loadgen/run.ts
//
// Same method for both clients: the whole process tree (this process, which is floodgate's
// coordinator when run() runs in-process and only the driver for ws, plus the client worker
// processes), baseline taken after the workers have loaded their code and before the first
// connection, end value once every connection is held.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/loadgen/index.js';
import { readRss } from '../../src/system/process-usage.js';

const N = Number(process.env.FG_BENCH_CONNECTIONS ?? 15_000);
const W = 2;
const RATE = 3000;
// Each client gets its own source addresses, so TIME_WAIT left by one cannot slow the other's bind().
const SOURCE_IPS = Array.from({ length: 4 }, (_, i) => `127.0.0.${i + 2}`);
const WS_SOURCE_IPS = Array.from({ length: 4 }, (_, i) => `127.0.0.${i + 6}`);
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const TICK = 100; // USER_HZ

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}
const sum = (pids: number[], f: (p: number) => number): number => pids.reduce((s, p) => s + f(p), 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startServer(): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(here('./ws-server.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((r) => child.once('message', (m: { port: number }) => r(m.port)));
  return { child, port };
}

interface Measure { held: number; rssPerConnKB: number; cpuPer1000: number; serverCpuPer1000: number; wallS: number }

/** The tree's RSS and CPU: this process plus the client workers. */
function treeUsage(pids: number[]): { rss: number; cpu: number } {
  return { rss: process.memoryUsage.rss() + sum(pids, (p) => readRss(p) ?? 0), cpu: cpuSeconds(process.pid) + sum(pids, cpuSeconds) };
}

async function measureOurs(url: string, serverPid: number): Promise<Measure> {
  const r = run({ url, connections: N, rate: RATE, durationMs: 600_000, workers: W, sourceIps: SOURCE_IPS, teardown: 'reset', tickMs: 500 });
  // 'workers' is emitted synchronously after the workers loaded and before the first connection
  // is scheduled, so the baseline is read inside the listener
  let base = { rss: 0, cpu: 0 };
  let s0 = 0;
  const pids = await new Promise<number[]>((res) => r.once('workers', (p: number[]) => {
    base = treeUsage(p);
    s0 = cpuSeconds(serverPid);
    res(p);
  }));
  const t0 = performance.now();
  let open = 0;
  let attempts = 0;
  await new Promise<void>((res) => r.on('tick', (t: { open: number; total: { attempts: number } }) => {
    open = t.open;
    attempts = t.total.attempts;
    if ((attempts >= N && open + 0 >= attempts - 0) || performance.now() - t0 > 90_000) res();
  }));
  const wallS = (performance.now() - t0) / 1000;
  await sleep(1000); // let lazily allocated buffers settle (the same for both clients)
  const end = treeUsage(pids);
  const m: Measure = {
    held: open,
    rssPerConnKB: (end.rss - base.rss) / open / 1024,
    cpuPer1000: ((end.cpu - base.cpu) / open) * 1000,
    serverCpuPer1000: ((cpuSeconds(serverPid) - s0) / open) * 1000,
    wallS,
  };
  r.stop();
  const res = await r;
  m.held = Math.min(m.held, res.totals.opened);
  return m;
}

async function measureWs(url: string, serverPid: number): Promise<Measure> {
  const kids = Array.from({ length: W }, () => fork(here('./ws-client-worker.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
  const pids = kids.map((k) => k.pid!);
  const base = treeUsage(pids);
  const s0 = cpuSeconds(serverPid);
  const t0 = performance.now();
  const results = await Promise.all(kids.map((k, index) => {
    const count = Math.floor(N / W) + (index < N % W ? 1 : 0);
    k.send({ url, count, ratePerSec: RATE / W, sourceIps: WS_SOURCE_IPS, index, workers: W });
    return new Promise<{ opened: number }>((r) => k.once('message', r));
  }));
  const wallS = (performance.now() - t0) / 1000;
  await sleep(1000);
  const held = results.reduce((s, x) => s + x.opened, 0);
  const end = treeUsage(pids);
  const m: Measure = {
    held,
    rssPerConnKB: (end.rss - base.rss) / held / 1024,
    cpuPer1000: ((end.cpu - base.cpu) / held) * 1000,
    serverCpuPer1000: ((cpuSeconds(serverPid) - s0) / held) * 1000,
    wallS,
  };
  for (const k of kids) k.send({ stop: true });
  await Promise.all(kids.map((k) => new Promise((r) => (k.exitCode !== null ? r(null) : k.once('exit', r)))));
  return m;
}

const r2 = (n: number): number => Math.round(n * 100) / 100;
const r3 = (n: number): number => Math.round(n * 1000) / 1000;

const srvA = await startServer();
const ours = await measureOurs(`ws://127.0.0.1:${srvA.port}/`, srvA.child.pid!);
srvA.child.kill('SIGKILL');
// TIME_WAIT is on the server side (reset teardown), but give the kernel a moment and use a fresh server.
await sleep(2000);
const srvB = await startServer();
const wsc = await measureWs(`ws://127.0.0.1:${srvB.port}/`, srvB.child.pid!);
srvB.child.kill('SIGKILL');

const result = {
  connections: N, workers: W, ratePerSec: RATE, sourceIps: SOURCE_IPS.length,
  floodgate: { ...ours, rssPerConnKB: r2(ours.rssPerConnKB), cpuPer1000: r3(ours.cpuPer1000), serverCpuPer1000: r3(ours.serverCpuPer1000), wallS: r2(ours.wallS) },
  wsClient: { ...wsc, rssPerConnKB: r2(wsc.rssPerConnKB), cpuPer1000: r3(wsc.cpuPer1000), serverCpuPer1000: r3(wsc.serverCpuPer1000), wallS: r2(wsc.wallS) },
  ratios: { rss: r3(ours.rssPerConnKB / wsc.rssPerConnKB), cpu: r3(ours.cpuPer1000 / wsc.cpuPer1000) },
  goals: { rssPerConnKB: 5, cpuRatio: 0.5 },
};
mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../results/loadgen.json', import.meta.url), JSON.stringify(result, null, 2));
console.log(`## Load generator: floodgate bench vs the ws client

${N.toLocaleString('en-US')} connections held against a plain \`ws\` server (own process), ${W} client processes, ${SOURCE_IPS.length} source IPs, arrivals at ${RATE}/s. Command: \`node --import tsx benchmarks/loadgen/run.ts\` (FG_BENCH_CONNECTIONS to change N).

Both clients measured the same way: the whole process tree (this benchmark process — floodgate's coordinator, or only the driver for ws — plus ${W} client worker processes), baseline after the workers loaded their code and before the first connection, end value 1 s after every connection is held.

| client | held | RSS per held connection (tree) | client CPU s per 1,000 handshakes (tree) | server CPU s per 1,000 |
|---|---|---|---|---|
| floodgate bench (raw net) | ${ours.held} | ${r2(ours.rssPerConnKB)} KB | ${r3(ours.cpuPer1000)} | ${r3(ours.serverCpuPer1000)} |
| ws npm client | ${wsc.held} | ${r2(wsc.rssPerConnKB)} KB | ${r3(wsc.cpuPer1000)} | ${r3(wsc.serverCpuPer1000)} |
| ratio (ours / ws) | | ${result.ratios.rss}× | ${result.ratios.cpu}× | |

Goals: ≤ 5 KB RSS per held connection; ≤ 0.5× the ws client's CPU per 1,000 handshakes.
`);
process.exit(0);
