/**
 * The gateway with and without ws's optional native add-on `bufferutil`: server CPU per inbound
 * publish of a given size over WebSocket (masked client frames: the only gateway path where ws
 * unmasks payloads of any size; handshakes and deliveries do not mask at all).
 *
 * Standalone, not part of `npm run bench` (it measures a library choice, not the product):
 *   npm install --no-save bufferutil
 *   node --import tsx benchmarks/native/inbound.ts
 *
 * `floodgate serve` runs as its own process, once with WS_NO_BUFFER_UTIL=1 (ws's own switch, so
 * ws uses its JavaScript unmask) and once without (ws loads bufferutil when it is installed),
 * alternating, FG_BENCH_RUNS times each (default 3). CLIENTS publishers (ws clients in this
 * process) each keep WINDOW publishes in flight and wait for the acks; server CPU is read from
 * /proc over the measured publishes (a warm-up first is not counted). Prints a markdown table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { WebSocket } from 'ws';
import { bounded, cpuSeconds } from '../lib/measure.js';

const root = new URL('../../', import.meta.url).pathname;
const RUNS = Number(process.env.FG_BENCH_RUNS ?? 3);
/** Payload sizes of `data` (a string): up to the default maxPayload of 16 KiB per frame. */
const SIZES = [100, 1024, 8 * 1024];
const PUBLISHES = Number(process.env.FG_BENCH_PUBLISHES ?? 20_000);
const WARMUP = 2_000;
const CLIENTS = 20;
const WINDOW = 8;
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(', ');

type Arm = 'bufferutil' | 'js';

async function startServer(arm: Arm): Promise<{ child: ChildProcess; port: number }> {
  const env = { ...process.env };
  if (arm === 'js') env.WS_NO_BUFFER_UTIL = '1';
  else delete env.WS_NO_BUFFER_UTIL;
  const child = spawn(process.execPath, [`${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn',
    '--rate-burst', '1000000', '--rate-refill', '1000000'], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const port = await bounded(new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c) => {
      buf += c;
      for (const line of buf.split('\n')) if (line.startsWith('{"event":"listening"')) resolve(JSON.parse(line).listen.port);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  }), 60_000, 'server start');
  return { child, port };
}

/** Every client publishes its share of `count`, WINDOW in flight, and resolves when all are acked. */
function publishAll(clients: WebSocket[], count: number, data: string): Promise<void> {
  return Promise.all(clients.map((ws, c) => new Promise<void>((resolve, reject) => {
    const share = Math.floor(count / clients.length) + (c < count % clients.length ? 1 : 0);
    let sent = 0;
    let acked = 0;
    const send = (): void => {
      sent++;
      ws.send(JSON.stringify({ type: 'publish', id: sent, channel: `in${c}`, data }));
    };
    const onMessage = (raw: Buffer): void => {
      const f = JSON.parse(raw.toString()) as { type: string; code?: number; message?: string };
      if (f.type === 'error') { ws.off('message', onMessage); reject(new Error(`server error frame: ${raw.toString().slice(0, 200)}`)); return; }
      if (f.type !== 'published') return;
      acked++;
      if (acked === share) { ws.off('message', onMessage); resolve(); } else if (sent < share) send();
    };
    ws.on('message', onMessage);
    if (share === 0) { ws.off('message', onMessage); resolve(); return; }
    for (let i = 0; i < Math.min(WINDOW, share); i++) send();
  }))).then(() => undefined);
}

async function oneRun(arm: Arm, size: number): Promise<number> {
  const server = await startServer(arm);
  const clients: WebSocket[] = [];
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: false });
      ws.on('error', () => {});
      clients.push(ws);
    }
    await bounded(Promise.all(clients.map((ws) => new Promise((r, j) => { ws.once('open', r); ws.once('close', j); }))), 30_000, 'clients open');
    const data = 'x'.repeat(size);
    await bounded(publishAll(clients, WARMUP, data), 60_000, 'warm-up');
    const cpu0 = cpuSeconds(server.child.pid!);
    await bounded(publishAll(clients, PUBLISHES, data), 120_000, `${PUBLISHES} publishes of ${size} bytes`);
    return ((cpuSeconds(server.child.pid!) - cpu0) / PUBLISHES) * 1e6;
  } finally {
    for (const ws of clients) ws.terminate();
    try { process.kill(-server.child.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
}

const loadStart = load();
const results = new Map<string, number[]>();
for (let run = 0; run < RUNS; run++) {
  for (const size of SIZES) {
    for (const arm of (run % 2 === 0 ? ['js', 'bufferutil'] : ['bufferutil', 'js']) as Arm[]) {
      const us = await oneRun(arm, size);
      console.error(`inbound: ${arm}, ${size} B: ${us.toFixed(2)} µs server CPU per publish`);
      const key = `${arm}/${size}`;
      results.set(key, [...(results.get(key) ?? []), us]);
    }
  }
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const lines = [
  `Node ${process.version}; ${PUBLISHES.toLocaleString('en-US')} publishes per run from ${CLIENTS} clients (${WINDOW} in flight each), ${RUNS} runs per arm, alternating; median server CPU µs per publish (min–max). Load average (1, 5, 15 min) at the start ${loadStart}, at the end ${load()}.`,
  '',
  '| `data` bytes | with bufferutil | ws JS unmask (WS_NO_BUFFER_UTIL=1) | bufferutil / JS |',
  '|---:|---:|---:|---:|',
];
for (const size of SIZES) {
  const b = results.get(`bufferutil/${size}`)!;
  const j = results.get(`js/${size}`)!;
  const cell = (v: number[]): string => `${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)})`;
  lines.push(`| ${size.toLocaleString('en-US')} | ${cell(b)} | ${cell(j)} | ${(median(b) / median(j)).toFixed(2)} |`);
}
console.log(lines.join('\n'));
