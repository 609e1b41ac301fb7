/**
 * Fan-out suite: server CPU per delivered message, floodgate serve vs a plain `ws` pub/sub server
 * (benchmarks/fanout/ws-server.ts) and a Socket.IO one (benchmarks/fanout/socketio-server.ts),
 * in the same run, alternating, FG_BENCH_RUNS times each.
 * S subscribers (FG_BENCH_SUBSCRIBERS, default 10,000) on one channel in two client processes;
 * one publisher. Two shapes of traffic, both closed-loop (the next batch is published when every
 * subscriber has the last one):
 *  - one at a time: one publication, wait until all have it, the next;
 *  - bursts: B publications arrive in one TCP segment, so the server sees more than one per
 *    turn of its event loop (what a busy publisher or a Redis read of several looks like).
 * CPU is the server process's user + system time from /proc over the measured batches (a warm-up
 * batch first is not counted); delivery latency is now − the publisher's timestamp, sampled on one
 * subscriber in 50. Prints a markdown section; writes benchmarks/results/fanout.json.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { WebSocket } from 'ws';
import { bounded, cpuSeconds } from '../lib/measure.js';

const root = new URL('../../', import.meta.url).pathname;
/** The machine's 1-minute load average: the conditions the figures were taken in. */
const loadAt = (): number => Math.round(loadavg()[0] * 10) / 10;
const loadStart = loadAt();
const SIO_VERSION = (JSON.parse(readFileSync(`${root}node_modules/socket.io/package.json`, 'utf8')) as { version: string }).version;
const SUBSCRIBERS = Number(process.env.FG_BENCH_SUBSCRIBERS ?? 10_000);
const RUNS = Number(process.env.FG_BENCH_RUNS ?? 3);
const SUB_PROCS = 2;
const SAMPLE_EVERY = 50;
const BATCH_TIMEOUT_MS = 120_000;
const ALL_SHAPES = [
  { name: 'one at a time', burst: 1, batches: Number(process.env.FG_BENCH_FANOUT_SINGLES ?? 30) },
  { name: 'bursts of 20', burst: 20, batches: Number(process.env.FG_BENCH_FANOUT_BURSTS ?? 5) },
] as const;
/** For profiling and quick iterations: FG_BENCH_FANOUT_BURSTS=0 or FG_BENCH_FANOUT_SINGLES=0 leaves a shape out. */
const SHAPES = ALL_SHAPES.filter((s) => s.batches > 0);

type ServerName = 'ws' | 'floodgate' | 'socketio';
/** The Engine.IO path of a Socket.IO server, WebSocket transport from the start. */
const SOCKETIO_PATH = '/socket.io/?EIO=4&transport=websocket';
/** FG_BENCH_SERVERS=floodgate (comma-separated) runs only those; the table then has no ratio for a missing peer. */
const SERVERS = (process.env.FG_BENCH_SERVERS?.split(',') ?? ['ws', 'floodgate', 'socketio']) as ServerName[];
const LABEL: Record<ServerName, string> = { ws: 'ws', floodgate: 'floodgate', socketio: 'Socket.IO' };
/**
 * FG_BENCH_CPU_PROF=<dir>: each server runs under `node --cpu-prof` and is stopped with SIGTERM
 * (so the profile is written) instead of SIGKILL. Profiling slows the server: not for figures.
 */
const CPU_PROF = process.env.FG_BENCH_CPU_PROF;

async function startServer(name: ServerName): Promise<{ child: ChildProcess; port: number }> {
  // one directory per server: node names each thread's profile (tsx runs a loader thread)
  const prof = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', `${CPU_PROF}/${name}`] : [];
  const args = name === 'floodgate'
    ? [...prof, `${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn',
      '--rate-burst', '1000000', '--rate-refill', '1000000', '--max-buffered-bytes', '64MB']
    : [...prof, '--import', 'tsx', `${root}benchmarks/fanout/${name === 'ws' ? 'ws-server' : 'socketio-server'}.ts`];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const port = await bounded(new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c) => {
      buf += c;
      for (const line of buf.split('\n')) if (line.startsWith('{"event":"listening"')) resolve(JSON.parse(line).listen.port);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  }), 60_000, `${name} start`);
  return { child, port };
}

async function stop(child: ChildProcess): Promise<void> {
  if (CPU_PROF && child.exitCode === null) {
    // a profiled server must exit by itself to write its profile
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await bounded(exited, 60_000, 'profiled server exit').catch(() => {});
  }
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch { /* already gone */ }
}

interface Sample { server: ServerName; shape: string; delivered: number; cpuS: number; wallS: number; usPerDelivery: number; perSecond: number; p50: number; p99: number; max: number }

function percentile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function oneRun(name: ServerName): Promise<Sample[]> {
  const server = await startServer(name);
  const subs = Array.from({ length: SUB_PROCS }, () => fork(`${root}benchmarks/fanout/subscriber-worker.ts`, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }));
  const got = new Map<number, number>(); // seq → subscriber processes that have it
  const waiters = new Map<number, () => void>();
  const errors: string[] = [];
  for (const sub of subs) {
    sub.on('message', (m: { type: string; seq?: number; message?: string }) => {
      if (m.type === 'got') {
        const n = (got.get(m.seq!) ?? 0) + 1;
        got.set(m.seq!, n);
        if (n === SUB_PROCS) waiters.get(m.seq!)?.();
      } else if (m.type === 'error' && errors.length < 5) errors.push(m.message!);
    });
  }
  const deliveredTo = (seq: number) => new Promise<void>((resolve) => {
    if (got.get(seq) === SUB_PROCS) resolve();
    else waiters.set(seq, resolve);
  });
  try {
    const ready = subs.map((s) => new Promise<void>((resolve) => s.on('message', (m: { type: string }) => m.type === 'ready' && resolve())));
    subs.forEach((s, i) => s.send({ cmd: 'open', port: server.port, count: Math.floor(SUBSCRIBERS / SUB_PROCS) + (i < SUBSCRIBERS % SUB_PROCS ? 1 : 0), channel: 'fanout', sampleEvery: SAMPLE_EVERY, ...(name === 'socketio' ? { socketio: true, path: SOCKETIO_PATH } : {}) }));
    await bounded(Promise.all(ready), 180_000, `${name}: ${SUBSCRIBERS} subscribers`).catch((e) => {
      throw new Error(`${(e as Error).message}${errors.length ? ` (client errors: ${errors.join('; ')})` : ''}`);
    });
    const sio = name === 'socketio';
    const pub = new WebSocket(`ws://127.0.0.1:${server.port}${sio ? SOCKETIO_PATH : '/'}`, { perMessageDeflate: false });
    // Socket.IO: Engine.IO open → Socket.IO connect (listening from the start: the open packet may come with the 101); answer its pings while publishing
    const connected = !sio ? undefined : new Promise<void>((resolve) => pub.on('message', (raw) => {
      const text = raw.toString();
      if (text.startsWith('40')) resolve();
      else if (text.startsWith('0')) pub.send('40');
      else if (text === '2') pub.send('3');
    }));
    await bounded(new Promise((r, j) => { pub.once('open', r); pub.once('error', j); }), 30_000, `${name}: publisher`);
    if (connected) await bounded(connected, 30_000, `${name}: publisher connect`);
    const socket = (pub as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    let seq = 0;
    const publishBatch = async (size: number) => {
      socket.cork(); // the batch leaves in one segment: the server reads it in one turn
      for (let i = 0; i < size; i++) {
        seq++;
        const data = { seq, t: performance.timeOrigin + performance.now() };
        pub.send(sio ? `42${JSON.stringify(['publish', { channel: 'fanout', data }])}` : JSON.stringify({ type: 'publish', channel: 'fanout', data }));
      }
      socket.uncork();
      await bounded(deliveredTo(seq), BATCH_TIMEOUT_MS, `${name}: delivery of message ${seq}`);
    };
    const out: Sample[] = [];
    for (const shape of SHAPES) {
      await publishBatch(shape.burst); // warm-up, not counted
      await Promise.all(subs.map((s) => new Promise((r) => { s.once('message', r); s.send({ cmd: 'latencies' }); })));
      const cpu0 = cpuSeconds(server.child.pid!);
      const t0 = performance.now();
      for (let b = 0; b < shape.batches; b++) await publishBatch(shape.burst);
      const wallS = (performance.now() - t0) / 1000;
      const cpuS = cpuSeconds(server.child.pid!) - cpu0;
      const lat = (await Promise.all(subs.map((s) => new Promise<number[]>((resolve) => {
        const on = (m: { type: string; ms?: number[] }) => { if (m.type === 'latencies') { s.off('message', on); resolve(m.ms!); } };
        s.on('message', on);
        s.send({ cmd: 'latencies' });
      })))).flat().sort((a, b) => a - b);
      const delivered = SUBSCRIBERS * shape.burst * shape.batches;
      out.push({
        server: name, shape: shape.name, delivered, cpuS, wallS,
        usPerDelivery: (cpuS * 1e6) / delivered, perSecond: delivered / wallS,
        p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), max: lat[lat.length - 1] ?? NaN,
      });
      console.error(`fanout: ${name}, ${shape.name}: ${((cpuS * 1e6) / delivered).toFixed(2)} µs/delivery, ${Math.round(delivered / wallS)}/s, p99 ${percentile(lat, 0.99).toFixed(1)} ms`);
    }
    pub.terminate();
    return out;
  } finally {
    for (const s of subs) s.kill('SIGKILL');
    await stop(server.child);
  }
}

const samples: Sample[] = [];
for (let r = 0; r < RUNS; r++) {
  const order = r % 2 === 0 ? SERVERS : [...SERVERS].reverse();
  for (const name of order) samples.push(...(await oneRun(name)));
}

mkdirSync(`${root}benchmarks/results`, { recursive: true });
writeFileSync(`${root}benchmarks/results/fanout.json`, JSON.stringify({ subscribers: SUBSCRIBERS, runs: RUNS, shapes: SHAPES, node: process.version, socketIo: SIO_VERSION, loadAverage: { start: loadStart, end: loadAt() }, samples }, null, 2));

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const mmm = (xs: number[], f: (x: number) => string) => { const s = [...xs].sort((a, b) => a - b); return `${f(s[0])} / ${f(median(s))} / ${f(s[s.length - 1])}`; };
const rows: string[] = [];
const ratios: string[] = [];
for (const shape of SHAPES) {
  const of = (name: ServerName) => samples.filter((s) => s.server === name && s.shape === shape.name);
  for (const name of SERVERS) {
    const xs = of(name);
    rows.push(`| ${shape.name} | ${LABEL[name]} | ${xs[0].delivered.toLocaleString('en-US')} | ${mmm(xs.map((x) => x.usPerDelivery), (v) => v.toFixed(2))} | ${mmm(xs.map((x) => x.perSecond), (v) => Math.round(v).toLocaleString('en-US'))} | ${mmm(xs.map((x) => x.p99), (v) => v.toFixed(1))} |`);
  }
  if (!SERVERS.includes('floodgate')) continue;
  const fg = median(of('floodgate').map((x) => x.usPerDelivery));
  const against = SERVERS.filter((n) => n !== 'floodgate').map((n) => `**${(fg / median(of(n).map((x) => x.usPerDelivery))).toFixed(2)}×** ${LABEL[n]}`);
  if (against.length > 0) ratios.push(`${shape.name}: ${against.join(', ')}`);
}

process.stdout.write([
  '## Fan-out: server CPU per delivered message',
  '',
  `Reproduce: \`npm run bench -- fanout\` (${SUBSCRIBERS.toLocaleString('en-US')} subscribers on one channel in ${SUB_PROCS} client processes, one publisher, closed loop; ${RUNS} runs per server, alternating; server CPU from /proc over the measured batches; latency = arrival − publish timestamp on one subscriber in ${SAMPLE_EVERY}; clients and server share the 2 cores). Cells are min / median / max of the runs.`,
  '',
  '| traffic | server | deliveries per run | server CPU µs per delivery | delivered msgs/s | p99 delivery latency (ms) |',
  '|---|---|---|---|---|---|',
  ...rows,
  '',
  `Median CPU per delivery, floodgate against the peers in the same run: ${ratios.join('; ')}. Goals: ≤ 0.5× plain \`ws\` when publications arrive faster than one per turn (bursts), never worse than \`ws\` one at a time.`,
  '',
  `The peers: plain \`ws\` as most pub/sub servers on it are written (the message serialised once, \`ws.send()\` per subscriber, no pings); Socket.IO ${SIO_VERSION} with a room per channel and \`io.to(channel).emit()\` (WebSocket transport only; it encodes and frames a broadcast once). Floodgate and Socket.IO ping every connection every 25 s (their defaults); floodgate sends a ping that is nearly due in the same write as a publication. ${SERVERS.length < 3 ? `This run measured ${SERVERS.map((n) => LABEL[n]).join(' and ')} only (FG_BENCH_SERVERS). ` : ''}Machine load average (1 min): ${loadStart} at the start, ${loadAt()} at the end.`,
  '',
].join('\n'));
