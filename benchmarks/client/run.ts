/**
 * Client SDK benchmark suite (`npm run bench -- client`). Prints a markdown section and writes
 * benchmarks/results/client.json.
 *
 * 1. Receive cost: one subscriber process takes N messages from a `floodgate serve` process,
 *    with the SDK and with a bare `ws` socket + JSON.parse (baseline); CPU per message and the
 *    ratio between the two.
 * 2. Reconnect storm: C SDK clients on one gateway; the gateway restarts on the same port; when
 *    do the clients come back? With the default jitter (±25%) and with none, peak reconnects
 *    per 10 ms and the spread.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { Client } from '../../src/client/index.js';
import { createGateway } from '../../src/server/gateway.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const soak = process.env.FG_BENCH_SOAK === '1';
const N = Number(process.env.FG_BENCH_MESSAGES ?? (soak ? 1_000_000 : 200_000));
const C = Number(process.env.FG_BENCH_STORM_CLIENTS ?? (soak ? 3000 : 1000));
const log = (s: string) => process.stderr.write(`${s}\n`);

async function startServe(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json',
    '--rate-burst', '1000000', '--rate-refill', '1000000', '--max-buffered-bytes', '64MiB'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c) => {
      out += c;
      const m = out.match(/"event":"listening".*?"port":(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  child.stdout!.resume();
  return { child, port };
}

async function receive(mode: 'sdk' | 'ws', port: number, channel: string): Promise<any> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'benchmarks/client/receive-worker.ts', mode, `ws://127.0.0.1:${port}/`, channel, String(N)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  await new Promise<void>((resolve) => {
    const t = setInterval(() => out.includes('ready') && (clearInterval(t), resolve()), 10);
  });
  // Publish N small messages without ids (no acks), respecting the socket's buffer.
  const pub = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise((r) => pub.once('open', r));
  const payload = { sym: 'ABC', px: 10.5, qty: 100, venue: 'XNAS', note: 'benchmark payload of about 100 bytes' };
  for (let i = 0; i < N; i++) {
    pub.send(JSON.stringify({ type: 'publish', channel, data: payload }));
    if (pub.bufferedAmount > 1 << 20) await new Promise((r) => setTimeout(r, 1));
  }
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  pub.terminate();
  if (code !== 0) throw new Error(`${mode} worker exited ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

interface StormResult {
  jitter: number;
  clients: number;
  /** TCP connections the restarted gateway's listener accepted (attempts as they arrive at the server). */
  arrivals: number;
  /** Attempts that failed at the client (e.g. refused while nothing listened). */
  failedAttempts: number;
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
  const clients = Array.from({ length: C }, () => new Client(`ws://127.0.0.1:${port}/`, { jitter, circuitThreshold: 0, pingInterval: 0 }));
  await Promise.all(clients.map((c) => c.ready(30_000)));
  const back: number[] = [];
  const arrivals: number[] = [];
  let failedAttempts = 0;
  let t0 = 0;
  for (const c of clients) {
    c.on('connected', () => back.push(performance.now() - t0));
    c.on('error', () => failedAttempts++);
  }
  t0 = performance.now();
  await g.close(5000);
  g = await createGateway({ host: '127.0.0.1', port, logLevel: 'silent' });
  // counted where the attempts arrive: each TCP connection the new gateway's listener accepts
  (g as unknown as { listener: Server }).listener.on('connection', () => arrivals.push(performance.now() - t0));
  const deadline = Date.now() + 30_000;
  while (back.length < C && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await Promise.all(clients.map((c) => c.close()));
  await g.close(2000);
  if (arrivals.length === 0) throw new Error(`storm (jitter ${jitter}): no attempt arrived at the restarted gateway`);
  arrivals.sort((a, b) => a - b);
  return {
    jitter, clients: back.length, arrivals: arrivals.length, failedAttempts,
    attemptsFirstMs: Math.round(arrivals[0]), attemptsLastMs: Math.round(arrivals.at(-1)!), attemptsPeakPer10ms: peakPer10ms(arrivals),
    allBackMs: Math.round(Math.max(...back)),
  };
}

const serve = await startServe();
let results: any;
try {
  log(`receive: ${N} messages, sdk then ws baseline`);
  const sdk = await receive('sdk', serve.port, 'bench-sdk');
  const raw = await receive('ws', serve.port, 'bench-ws');
  log('reconnect storm');
  const withJitter = await storm(0.25);
  const noJitter = await storm(0);
  results = { N, C, sdk, raw, storm: [withJitter, noJitter] };
} finally {
  serve.child.kill('SIGTERM');
}

const us = (r: any) => ((r.cpuUserMs + r.cpuSystemMs) * 1000) / r.count;
const rate = (r: any) => Math.round(r.count / (r.elapsedMs / 1000));
mkdirSync(join(root, 'benchmarks', 'results'), { recursive: true });
writeFileSync(join(root, 'benchmarks', 'results', 'client.json'), JSON.stringify(results, null, 2));
console.log(`## client

Receive path: one subscriber process takes ${N.toLocaleString('en-US')} messages (~130-byte frames) from a
\`floodgate serve\` process; the publisher shares the machine.

| subscriber | CPU per message | messages/s | ratio (CPU) |
|---|---|---|---|
| bare \`ws\` + JSON.parse (baseline) | ${us(results.raw).toFixed(2)} µs | ${rate(results.raw).toLocaleString('en-US')} | 1.00 |
| SDK (\`floodgate/client\`) | ${us(results.sdk).toFixed(2)} µs | ${rate(results.sdk).toLocaleString('en-US')} | ${(us(results.sdk) / us(results.raw)).toFixed(2)} |

Reconnect storm: ${C.toLocaleString('en-US')} SDK clients, the gateway closes (1001) and restarts on the same
port (default backoff, 500 ms first delay). Attempts are counted where they arrive: each TCP
connection the restarted gateway's listener accepts, timed from the start of the close; failed
attempts are the clients' connect errors (e.g. refused before the restart).

| jitter | clients back | attempts arrived | failed attempts | first arrival | last arrival | peak arrivals per 10 ms | all connected |
|---|---|---|---|---|---|---|---|
${results.storm.map((s: StormResult) => `| ${s.jitter * 100}% | ${s.clients} | ${s.arrivals} | ${s.failedAttempts} | ${s.attemptsFirstMs} ms | ${s.attemptsLastMs} ms | ${s.attemptsPeakPer10ms} | ${s.allBackMs} ms |`).join('\n')}
`);
