/**
 * Dashboard suite: what the live page costs the gateway process.
 *  - nobody watching, dashboard off vs on (idle): with the dashboard on, the feed samples
 *    stats() once a second even when no page is open (so a page opened later shows the last
 *    minutes), so this pair measures what that unwatched sampling costs;
 *  - ten SSE watchers (ten tabs), idle and with N idle WebSocket connections held (stats() counts
 *    open fds through /proc/self/fd, which grows with connections).
 * CPU is utime+stime of the gateway process from /proc/<pid>/stat over a window, per second.
 * The gateway runs from dist/ (`npm run bench` builds it first), so its startup is not a tsx
 * compile on a loaded machine.
 * Prints a markdown section; writes benchmarks/results/dashboard.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get, type ClientRequest } from 'node:http';
import { loadavg } from 'node:os';
import WebSocket from 'ws';
import { cpuSeconds, listeningPort } from '../lib/measure.js';

const WINDOW_MS = Number(process.env.FG_BENCH_DASH_WINDOW_MS ?? 15_000);
const CONNECTIONS = Number(process.env.FG_BENCH_DASH_CONNECTIONS ?? 5000);
const WATCHERS = 10;
const SETTLE_MS = Number(process.env.FG_BENCH_DASH_SETTLE_MS ?? 6000);
/** Scenarios run interleaved, ROUNDS times; the table shows min / median / max, the JSON every round. */
const ROUNDS = Number(process.env.FG_BENCH_DASH_ROUNDS ?? 3);
const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The machine's 1-minute load average: the conditions the figures were taken in. */
const loadAt = (): number => Math.round(loadavg()[0] * 10) / 10;
const loadStart = loadAt();

interface Gw { child: ChildProcess; port: number }

async function startGateway(dashboard: 'on' | 'off'): Promise<Gw> {
  const args = [`${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0',
    '--log-format', 'json', '--log-level', 'warn', '--dashboard', dashboard];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return { child, port: await listeningPort(child, 'gateway') };
}

async function stopGateway(g: Gw): Promise<void> {
  const exited = new Promise((r) => g.child.once('exit', r));
  g.child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (g.child.exitCode === null) g.child.kill('SIGKILL');
}

function ctxSwitches(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^voluntary_ctxt_switches:\s+(\d+)/m);
  return Number(m?.[1] ?? 0);
}

interface Watchers { events: number[]; bytes: number; close(): void }

function openWatchers(port: number, n: number): Promise<Watchers> {
  const events = Array(n).fill(0);
  const reqs: ClientRequest[] = [];
  const w: Watchers = { events, bytes: 0, close: () => reqs.forEach((r) => r.destroy()) };
  return Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/dashboard/events', agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`watcher got ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        w.bytes += Buffer.byteLength(c);
        events[i] += c.split('\n\n').length - 1;
        resolve();
      });
    });
    req.on('error', reject);
    reqs.push(req);
  }))).then(() => w);
}

async function openConnections(port: number, n: number): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.once('message', () => resolve(ws));
      ws.once('error', reject);
    })));
    out.push(...batch);
  }
  return out;
}

interface Row { scenario: string; dashboard: 'on' | 'off'; watchers: number; connections: number; cpuMsPerSecond: number; wakeupsPerSecond: number; eventsPerWatcherPerSecond: number | null; bytesPerSecond: number | null }

async function measure(scenario: string, dashboard: 'on' | 'off', watchers: number, connections: number): Promise<Row> {
  const g = await startGateway(dashboard);
  const pid = g.child.pid!;
  const conns = connections ? await openConnections(g.port, connections) : [];
  const w = watchers ? await openWatchers(g.port, watchers) : undefined;
  await sleep(SETTLE_MS); // settle: startup (tsx compiles), JIT, startup garbage collected
  const e0 = w ? w.events.reduce((a, b) => a + b, 0) : 0;
  const b0 = w?.bytes ?? 0;
  const c0 = cpuSeconds(pid);
  const x0 = ctxSwitches(pid);
  const t0 = Date.now();
  await sleep(WINDOW_MS);
  const secs = (Date.now() - t0) / 1000;
  const row: Row = {
    scenario, dashboard, watchers, connections,
    cpuMsPerSecond: Math.round((((cpuSeconds(pid) - c0) * 1000) / secs) * 100) / 100,
    wakeupsPerSecond: Math.round(((ctxSwitches(pid) - x0) / secs) * 10) / 10,
    eventsPerWatcherPerSecond: w ? Math.round(((w.events.reduce((a, b) => a + b, 0) - e0) / watchers / secs) * 100) / 100 : null,
    bytesPerSecond: w ? Math.round((w.bytes - b0) / secs) : null,
  };
  w?.close();
  for (const ws of conns) ws.terminate();
  await stopGateway(g);
  return row;
}

const plan: [string, 'on' | 'off', number, number][] = [
  ['idle, dashboard off', 'off', 0, 0],
  ['idle, dashboard on, nobody watching', 'on', 0, 0],
  [`idle, ${WATCHERS} watchers`, 'on', WATCHERS, 0],
  [`${CONNECTIONS} connections, dashboard off`, 'off', 0, CONNECTIONS],
  [`${CONNECTIONS} connections, nobody watching`, 'on', 0, CONNECTIONS],
  [`${CONNECTIONS} connections, ${WATCHERS} watchers`, 'on', WATCHERS, CONNECTIONS],
];
const rounds: Row[][] = [];
for (let r = 0; r < ROUNDS; r++) {
  const round: Row[] = [];
  for (const [name, dash, w, c] of plan) round.push(await measure(name, dash, w, c));
  rounds.push(round);
}
interface Spread { min: number; median: number; max: number }
const r2 = (x: number): number => Math.round(x * 100) / 100;
function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { min: r2(s[0]), median: r2(mid), max: r2(s[s.length - 1]) };
}
const show = (x: Spread | null): string => (x === null ? '–' : ROUNDS === 1 ? String(x.median) : `${x.min} / ${x.median} / ${x.max}`);
const rows = plan.map((_, i) => {
  const all = rounds.map((round) => round[i]);
  return {
    scenario: all[0].scenario,
    cpuMsPerSecond: spread(all.map((x) => x.cpuMsPerSecond)),
    wakeupsPerSecond: spread(all.map((x) => x.wakeupsPerSecond)),
    eventsPerWatcherPerSecond: all[0].eventsPerWatcherPerSecond === null ? null : spread(all.map((x) => x.eventsPerWatcherPerSecond!)),
    bytesPerSecond: all[0].bytesPerSecond === null ? null : spread(all.map((x) => x.bytesPerSecond!)),
  };
});

/** "off" vs "on, nobody watching": a difference is only claimed when the rounds' ranges do not overlap. */
function compare(off: (typeof rows)[number], on: (typeof rows)[number]): string {
  const a = off.cpuMsPerSecond;
  const b = on.cpuMsPerSecond;
  const ranges = `off ${a.min}–${a.max} ms/s, on and unwatched ${b.min}–${b.max} ms/s over ${ROUNDS} rounds`;
  if (ROUNDS < 2) return `One round only: no spread to judge a difference by (${ranges}).`;
  return a.max < b.min || b.max < a.min
    ? `${on.scenario} vs ${off.scenario}: a difference beyond the run-to-run spread (${ranges}).`
    : `${on.scenario} vs ${off.scenario}: no difference beyond the run-to-run spread (${ranges}).`;
}

const loadEnd = loadAt();
const lines = [
  '## Dashboard',
  '',
  `Gateway process CPU (utime+stime from /proc, 10 ms resolution) over ${WINDOW_MS / 1000} s windows after ${SETTLE_MS / 1000} s to settle, ${ROUNDS} interleaved rounds shown as min / median / max (per-round values in benchmarks/results/dashboard.json); wake-ups = voluntary context switches. Idle connections are held by the benchmark process. \`npm run bench -- dashboard\``,
  '',
  `Machine load average (1 min) ${loadStart} at the start, ${loadEnd} at the end of the run (the box is shared with other work): compare the scenarios with each other, not with another run.`,
  '',
  '| scenario | gateway CPU ms/s | wake-ups/s | events/s per watcher | SSE bytes/s (all watchers) |',
  '|---|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.scenario} | ${show(r.cpuMsPerSecond)} | ${show(r.wakeupsPerSecond)} | ${show(r.eventsPerWatcherPerSecond)} | ${show(r.bytesPerSecond)} |`),
  '',
  `- ${compare(rows[0], rows[1])}`,
  `- ${compare(rows[3], rows[4])}`,
  '',
];
process.stdout.write(`${lines.join('\n')}\n`);
mkdirSync(`${root}benchmarks/results`, { recursive: true });
writeFileSync(`${root}benchmarks/results/dashboard.json`, `${JSON.stringify({ date: new Date().toISOString(), loadAverage1m: { start: loadStart, end: loadEnd }, windowMs: WINDOW_MS, settleMs: SETTLE_MS, rounds: ROUNDS, rows, perRound: rounds }, null, 2)}\n`);
