/**
 * Server API suite: a backend publishing through `POST /api/publish` to 10,000 subscribers on two
 * nodes that share a Redis broker, against the same publications sent by a WebSocket client (the
 * only way before the API), in the same run. Subscribers: 5,000 per node, in two client processes
 * (benchmarks/scale/fanout-worker.ts). The publisher sends M publications back to back (each
 * waits for its answer: 200 or `published`) and the run ends when every subscriber has all M.
 * CPU: both gateway processes and redis-server, from /proc. Prints a markdown section; writes
 * benchmarks/results/api.json.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { WebSocket } from 'ws';

const root = new URL('../../', import.meta.url).pathname;
const SUBSCRIBERS = Number(process.env.FG_BENCH_API_SUBSCRIBERS ?? 10_000);
const MESSAGES = Number(process.env.FG_BENCH_API_MESSAGES ?? 50);
const RUNS = Number(process.env.FG_BENCH_RUNS ?? 2);
const KEY = 'bench-key';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[11]) + Number(x[12])) / 100;
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`${what} not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

function spawnGroup(cmd: string, args: string[]): ChildProcess {
  return spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
}

function killGroup(c: ChildProcess): void {
  try {
    process.kill(-c.pid!, 'SIGKILL');
  } catch { /* gone */ }
}

async function waitLine(c: ChildProcess, re: RegExp, ms: number): Promise<string> {
  let buf = '';
  return bounded(new Promise((resolve) => c.stdout!.on('data', (d) => {
    buf += d;
    const m = buf.split('\n').find((l) => re.test(l));
    if (m) resolve(m);
  })), ms, `startup line ${re}`);
}

interface Node { child: ChildProcess; port: number; adminPort: number }

async function startNode(redisUrl: string, name: string): Promise<Node> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = spawnGroup(process.execPath, [`${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', String(port), '--admin-port', String(adminPort),
    '--api-key', KEY, '--broker', redisUrl, '--node-id', name, '--log-format', 'json', '--log-level', 'warn', '--rate-burst', '100000', '--rate-refill', '100000',
    // the subscribers connect all at once and do not retry: let them wait instead of getting 503
    '--admission-queue', '20000', '--admission-timeout', '120s', '--handshake-timeout', '120s', '--max-buffered-bytes', '64MB']);
  await waitLine(child, /"listening"/, 30_000);
  return { child, port, adminPort };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function apiPublish(port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/publish', agent, headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function wsPublisher(port: number): Promise<{ publish: (data: unknown) => Promise<void>; close: () => void }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await bounded(new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }), 10_000, 'publisher open');
  let id = 0;
  const waiting = new Map<number, () => void>();
  ws.on('message', (d) => {
    const f = JSON.parse(d.toString());
    if (f.type === 'published') waiting.get(f.id)?.();
  });
  return {
    publish: (data) => new Promise((resolve) => {
      const n = ++id;
      waiting.set(n, () => { waiting.delete(n); resolve(); });
      ws.send(JSON.stringify({ type: 'publish', id: n, channel: 'feed', data }));
    }),
    close: () => ws.terminate(),
  };
}

async function measure(mode: 'api' | 'ws', redisPid: number, redisUrl: string) {
  const a = await startNode(redisUrl, 'a');
  const b = await startNode(redisUrl, 'b');
  const workers = [0, 1].map(() => fork(`${root}benchmarks/scale/fanout-worker.ts`, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }));
  try {
    const failed = new Promise<never>((_, rej) => workers.forEach((w) => w.on('message', (m: { type: string; message?: string }) => m.type === 'error' && rej(new Error(`subscriber error: ${m.message}`)))));
    failed.catch(() => {});
    const ready = workers.map((w) => new Promise<void>((r) => w.on('message', (m: { type: string }) => m.type === 'ready' && r())));
    const done = workers.map((w) => new Promise<number>((r) => w.on('message', (m: { type: string; at: number }) => m.type === 'done' && r(m.at))));
    for (const w of workers) w.send({ cmd: 'open', ports: [a.port, b.port], count: SUBSCRIBERS / 2, channel: 'feed', expect: MESSAGES });
    await bounded(Promise.race([Promise.all(ready), failed]), 300_000, 'subscribers ready');
    await sleep(1000);
    const pids = [a.child.pid!, b.child.pid!, redisPid];
    const cpu0 = pids.map(cpuSeconds);
    const ws = mode === 'ws' ? await wsPublisher(a.port) : undefined;
    const t0 = Date.now();
    // One at a time for both publishers (each waits for its answer): the same arrival pattern, so
    // the difference is the API's own cost. Pipelined publications arrive in bursts that the
    // gateway writes to each socket in one writev, which costs far less per message (the fan-out
    // suite measures that); mixing the two patterns would compare batching, not publishers.
    for (let i = 0; i < MESSAGES; i++) {
      const data = { n: i, t: Date.now(), pad: 'x'.repeat(64) };
      await bounded(ws ? ws.publish(data) : apiPublish(a.adminPort, JSON.stringify({ channel: 'feed', data })), 60_000, 'publish answered');
    }
    const published = Date.now();
    const end = Math.max(...(await bounded(Promise.all(done), 300_000, 'every subscriber has every message')));
    const cpu = pids.map(cpuSeconds).map((c, i) => c - cpu0[i]);
    ws?.close();
    const delivered = SUBSCRIBERS * MESSAGES;
    return {
      mode, subscribers: SUBSCRIBERS, messages: MESSAGES, publishMs: published - t0, totalMs: end - t0,
      deliveredPerSecond: Math.round(delivered / ((end - t0) / 1000)),
      cpu: { nodeA: cpu[0], nodeB: cpu[1], redis: cpu[2] },
      usPerDelivered: ((cpu[0] + cpu[1] + cpu[2]) / delivered) * 1e6,
    };
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    killGroup(a.child);
    killGroup(b.child);
  }
}

const redisPort = await freePort();
const redis = spawnGroup('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning']);
try {
  await sleep(500);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const rows = [];
  for (let r = 0; r < RUNS; r++) for (const mode of ['ws', 'api'] as const) rows.push(await measure(mode, redis.pid!, redisUrl));
  mkdirSync(`${root}benchmarks/results`, { recursive: true });
  writeFileSync(`${root}benchmarks/results/api.json`, JSON.stringify({ rows }, null, 2));
  const runs = Array.from({ length: RUNS }, (_, i) => rows.slice(i * 2, i * 2 + 2));
  const of = (run: typeof rows, mode: string) => run.find((r) => r.mode === mode)!;
  const per = (f: (run: typeof rows) => number | string) => runs.map((run) => f(run)).join(', ');
  const out = [
    '## Server API: a backend publishing to 10,000 subscribers on two nodes (Redis)',
    '',
    `Reproduce: \`npm run bench -- api\` (${SUBSCRIBERS} subscribers, half on each of two \`floodgate serve --broker redis://…\` nodes, ${MESSAGES} publications of ~100 B sent to node a one at a time (each waits for its answer: HTTP 200 on a keep-alive connection, or \`published\`), ${RUNS} runs of each publisher; CPU of both nodes and redis-server; everything on the same 2 cores).`,
    '',
    '| publisher | run | publish time | all delivered after | delivered / s | CPU node a | node b | redis | µs CPU per delivered message |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r, i) => `| ${r.mode === 'api' ? 'POST /api/publish' : 'WebSocket client'} | ${Math.floor(i / 2) + 1} | ${r.publishMs} ms | ${r.totalMs} ms | ${r.deliveredPerSecond} | ${r.cpu.nodeA.toFixed(2)} s | ${r.cpu.nodeB.toFixed(2)} s | ${r.cpu.redis.toFixed(2)} s | ${r.usPerDelivered.toFixed(2)} |`),
    '',
    `Per run: API / WebSocket CPU per delivered message **${per((r) => (of(r, 'api').usPerDelivered / of(r, 'ws').usPerDelivered).toFixed(2))}**; delivered per second through the API ${per((r) => of(r, 'api').deliveredPerSecond)}, through a WebSocket publisher ${per((r) => of(r, 'ws').deliveredPerSecond)}.`,
    '',
  ];
  process.stdout.write(out.join('\n'));
} finally {
  killGroup(redis);
  agent.destroy();
}
process.exit(0);
