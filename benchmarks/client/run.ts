/**
 * Client SDK benchmark suite (`npm run bench -- client`). Prints a markdown section and writes
 * benchmarks/results/client.json.
 *
 * 1. Receive cost: one subscriber process takes N messages from a `floodgate serve` process,
 *    with the SDK and with a bare `ws` socket + JSON.parse (baseline); CPU per message and the
 *    ratio between the two. The two run interleaved, ROUNDS times each in ABBA order (sdk, ws,
 *    ws, sdk, ...), so a change in the machine's load during the run hits both alike.
 * 2. Reconnect storm: C SDK clients on one gateway; the gateway restarts on the same port; when
 *    do the clients come back? With the default jitter (±25%) and with none, peak reconnects
 *    per 10 ms and the spread. The clients and the gateway share this one process (one event
 *    loop), so the close, the drops and the restart are timed separately: on a loaded machine
 *    the close itself takes a while, and the arrivals are only meaningful after the drops.
 * Every wait is bounded; the machine's load average is recorded at start and end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { Client } from '../../src/client/index.js';
import { createGateway } from '../../src/server/gateway.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const soak = process.env.FG_BENCH_SOAK === '1';
// per round and mode; 4 runs of 50,000 (2 rounds x 2 modes) fit a loaded shared box in minutes
const N = Number(process.env.FG_BENCH_MESSAGES ?? (soak ? 1_000_000 : 50_000));
const C = Number(process.env.FG_BENCH_STORM_CLIENTS ?? (soak ? 3000 : 1000));
const ROUNDS = Number(process.env.FG_BENCH_CLIENT_ROUNDS ?? 2);
/** The machine's 1-minute load average: the conditions the figures were taken in. */
const loadAt = (): number => Math.round(loadavg()[0] * 10) / 10;
const loadStart = loadAt();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Rejects when `p` has not settled within `ms`: a stuck step fails the suite instead of hanging it. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(t));
}
const log = (s: string) => process.stderr.write(`${s}\n`);

async function startServe(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json',
    '--rate-burst', '1000000', '--rate-refill', '1000000', '--max-buffered-bytes', '64MiB'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await bounded(new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c) => {
      out += c;
      const m = out.match(/"event":"listening".*?"port":(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  }), 120_000, 'floodgate serve start');
  child.stdout!.resume();
  return { child, port };
}

async function receive(mode: 'sdk' | 'ws', port: number, channel: string): Promise<any> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'benchmarks/client/receive-worker.ts', mode, `ws://127.0.0.1:${port}/`, channel, String(N)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    return await bounded(publishTo(exited, () => out, mode, port, channel), 10 * 60_000, `receive (${mode})`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function publishTo(exited: Promise<number | null>, out: () => string, mode: string, port: number, channel: string): Promise<any> {
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => out().includes('ready') && (clearInterval(t), resolve()), 10);
    void exited.then((code) => (clearInterval(t), reject(new Error(`${mode} worker exited ${code} before subscribing`))));
  });
  // Publish N small messages without ids (no acks), respecting the socket's buffer.
  const pub = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise((r) => pub.once('open', r));
  const payload = { sym: 'ABC', px: 10.5, qty: 100, venue: 'XNAS', note: 'benchmark payload of about 100 bytes' };
  for (let i = 0; i < N; i++) {
    pub.send(JSON.stringify({ type: 'publish', channel, data: payload }));
    if (pub.bufferedAmount > 1 << 20) await new Promise((r) => setTimeout(r, 1));
  }
  const code = await exited;
  pub.terminate();
  if (code !== 0) throw new Error(`${mode} worker exited ${code}`);
  return JSON.parse(out().trim().split('\n').at(-1)!);
}

interface StormResult {
  jitter: number;
  clients: number;
  /** TCP connections the restarted gateway's listener accepted (attempts as they arrive at the server). */
  arrivals: number;
  /** Attempts that failed at the client (e.g. refused while nothing listened). */
  failedAttempts: number;
  /** From the start of the close: the gateway's close() returned, the new one listened. */
  closeDoneMs: number;
  listeningMs: number;
  /** From the start of the close: the first and last client that saw its connection drop. */
  dropsFirstMs: number;
  dropsLastMs: number;
  /** Arrival times at the restarted gateway, from the start of the close. */
  attemptsFirstMs: number;
  attemptsLastMs: number;
  attemptsPeakPer10ms: number;
  /** When all were connected again. */
  allBackMs: number;
}

function peakPer10ms(times: number[]): number {
  const buckets = new Map<number, number>();
  for (const t of times) buckets.set(Math.floor(t / 10), (buckets.get(Math.floor(t / 10)) ?? 0) + 1);
  return Math.max(...buckets.values());
}

async function storm(jitter: number): Promise<StormResult> {
  let g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', rateBurst: 1000, rateRefill: 1000 });
  const port = g.port;
  // connected in batches: 1,000 simultaneous handshakes into this one busy process ran past the
  // ready timeout on a loaded machine, and the setup is not what is measured
  const clients: Client[] = [];
  for (let i = 0; i < C; i += 100) {
    const batch = Array.from({ length: Math.min(100, C - i) }, () => new Client(`ws://127.0.0.1:${port}/`, { jitter, circuitThreshold: 0, pingInterval: 0 }));
    clients.push(...batch);
    await Promise.all(batch.map((c) => c.ready(120_000)));
  }
  const back: number[] = [];
  const drops: number[] = [];
  const arrivals: number[] = [];
  let failedAttempts = 0;
  let t0 = 0;
  for (const c of clients) {
    c.on('connected', () => back.push(performance.now() - t0));
    c.on('error', () => failedAttempts++);
    c.on('disconnected', () => drops.push(performance.now() - t0));
  }
  t0 = performance.now();
  await bounded(g.close(5000), 60_000, 'gateway close');
  const closeDoneMs = performance.now() - t0;
  g = await bounded(createGateway({ host: '127.0.0.1', port, logLevel: 'silent' }), 60_000, 'gateway restart');
  const listeningMs = performance.now() - t0;
  // counted where the attempts arrive: each TCP connection the new gateway's listener accepts
  (g as unknown as { listener: Server }).listener.on('connection', () => arrivals.push(performance.now() - t0));
  const deadline = Date.now() + 60_000;
  while (back.length < C && Date.now() < deadline) await sleep(20);
  await bounded(Promise.all(clients.map((c) => c.close())), 60_000, 'closing the storm clients');
  await g.close(2000);
  if (arrivals.length === 0) throw new Error(`storm (jitter ${jitter}): no attempt arrived at the restarted gateway`);
  arrivals.sort((a, b) => a - b);
  return {
    jitter, clients: back.length, arrivals: arrivals.length, failedAttempts,
    closeDoneMs: Math.round(closeDoneMs), listeningMs: Math.round(listeningMs),
    dropsFirstMs: Math.round(Math.min(...drops)), dropsLastMs: Math.round(Math.max(...drops)),
    attemptsFirstMs: Math.round(arrivals[0]), attemptsLastMs: Math.round(arrivals.at(-1)!), attemptsPeakPer10ms: peakPer10ms(arrivals),
    allBackMs: Math.round(Math.max(...back)),
  };
}

const serve = await startServe();
let results: any;
try {
  const sdkRounds: any[] = [];
  const rawRounds: any[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // ABBA: sdk, ws, ws, sdk, ...
    const order: ('sdk' | 'ws')[] = r % 2 === 0 ? ['sdk', 'ws'] : ['ws', 'sdk'];
    for (const mode of order) {
      log(`receive round ${r + 1}/${ROUNDS}: ${mode}, ${N} messages`);
      (mode === 'sdk' ? sdkRounds : rawRounds).push(await receive(mode, serve.port, `bench-${mode}-${r}`));
    }
  }
  log('reconnect storm');
  const withJitter = await storm(0.25);
  const noJitter = await storm(0);
  results = { N, C, rounds: ROUNDS, sdkRounds, rawRounds, storm: [withJitter, noJitter] };
} finally {
  serve.child.kill('SIGTERM');
}

const us = (r: any) => ((r.cpuUserMs + r.cpuSystemMs) * 1000) / r.count;
const rate = (r: any) => Math.round(r.count / (r.elapsedMs / 1000));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const loadEnd = loadAt();
results.loadAverage1m = { start: loadStart, end: loadEnd };
const sdkUs = median(results.sdkRounds.map(us));
const rawUs = median(results.rawRounds.map(us));
const list = (rs: any[], f: (r: any) => number, digits: number) => rs.map((r) => f(r).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })).join(' / ');
results.cpuPerMessageUs = { sdk: sdkUs, ws: rawUs, ratio: sdkUs / rawUs };
mkdirSync(join(root, 'benchmarks', 'results'), { recursive: true });
writeFileSync(join(root, 'benchmarks', 'results', 'client.json'), JSON.stringify(results, null, 2));
console.log(`## client

Machine load average (1 min) ${loadStart} at the start, ${loadEnd} at the end of the run (the box is shared with other work): absolute rates and times are the busy machine's; the ratio against the same-run baseline is the figure to compare.

Receive path: one subscriber process takes ${N.toLocaleString('en-US')} messages (~130-byte frames) from a
\`floodgate serve\` process; the publisher shares the machine. ${ROUNDS} rounds of each, interleaved (ABBA);
per-round values in run order, the ratio from the medians.

| subscriber | CPU per message (median) | CPU per message, each round | messages/s, each round | ratio (CPU) |
|---|---|---|---|---|
| bare \`ws\` + JSON.parse (baseline) | ${rawUs.toFixed(2)} µs | ${list(results.rawRounds, us, 2)} µs | ${list(results.rawRounds, rate, 0)} | 1.00 |
| SDK (\`floodgate/client\`) | ${sdkUs.toFixed(2)} µs | ${list(results.sdkRounds, us, 2)} µs | ${list(results.sdkRounds, rate, 0)} | ${(sdkUs / rawUs).toFixed(2)} |

Reconnect storm: ${C.toLocaleString('en-US')} SDK clients, the gateway closes (1001) and restarts on the same
port (default backoff, 500 ms first delay). Clients and gateway share one process (one event loop).
All times are from the start of the close: when the old gateway's close returned and the new one
listened, when the clients saw their connections drop, and the attempts where they arrive (each TCP
connection the restarted gateway's listener accepts); failed attempts are the clients' connect
errors (e.g. refused while nothing listened).

| jitter | clients back | close done | listening again | drops first–last | attempts arrived | failed attempts | first arrival | last arrival | peak arrivals per 10 ms | all connected |
|---|---|---|---|---|---|---|---|---|---|---|
${results.storm.map((s: StormResult) => `| ${s.jitter * 100}% | ${s.clients} | ${s.closeDoneMs} ms | ${s.listeningMs} ms | ${s.dropsFirstMs}–${s.dropsLastMs} ms | ${s.arrivals} | ${s.failedAttempts} | ${s.attemptsFirstMs} ms | ${s.attemptsLastMs} ms | ${s.attemptsPeakPer10ms} | ${s.allBackMs} ms |`).join('\n')}
`);
