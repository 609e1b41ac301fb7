/**
 * Server API suite: a backend publishing through `POST /api/publish` to 10,000 subscribers on two
 * nodes that share a Redis broker, against the same publications sent by a WebSocket client (the
 * only way before the API), in the same run. Subscribers: 5,000 per node, in two client processes
 * (benchmarks/scale/fanout-worker.ts), each far under the 20,000 fds a process may hold.
 * Three publishers:
 *  - `ws` and `api`: M publications sent one at a time (each waits for its answer: `published`
 *    or HTTP 200), the same arrival pattern, so their difference is the API's own cost;
 *  - `api-pipelined`: a backend feed as it would run, FG_BENCH_API_INFLIGHT requests in flight on
 *    as many keep-alive connections, FG_BENCH_API_PIPELINED_MESSAGES publications.
 * A run ends when every subscriber has every publication. CPU of both gateway processes and of
 * redis-server from /proc; the nodes' own /stats confirm the publications went through the API
 * (`api.publications`) and that the frames were written (`messages.out`). Prints a markdown
 * section; writes benchmarks/results/api.json.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { WebSocket } from 'ws';
import { bounded, cpuSeconds, freePort } from '../lib/measure.js';

const root = new URL('../../', import.meta.url).pathname;
const SUBSCRIBERS = Number(process.env.FG_BENCH_API_SUBSCRIBERS ?? 10_000);
const MESSAGES = Number(process.env.FG_BENCH_API_MESSAGES ?? 50);
const PIPELINED_MESSAGES = Number(process.env.FG_BENCH_API_PIPELINED_MESSAGES ?? 200);
const INFLIGHT = Number(process.env.FG_BENCH_API_INFLIGHT ?? 16);
const RUNS = Number(process.env.FG_BENCH_RUNS ?? 2);
for (const [name, v, max] of [['FG_BENCH_API_SUBSCRIBERS', SUBSCRIBERS, 40_000], ['FG_BENCH_API_MESSAGES', MESSAGES, 10_000], ['FG_BENCH_API_PIPELINED_MESSAGES', PIPELINED_MESSAGES, 10_000], ['FG_BENCH_API_INFLIGHT', INFLIGHT, 256], ['FG_BENCH_RUNS', RUNS, 10]] as const) {
  // bounded in count: every loop below runs at most these many times
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${name} must be an integer from 1 to ${max}, got ${v}`);
}
if (SUBSCRIBERS % 2 !== 0) throw new Error(`FG_BENCH_API_SUBSCRIBERS must be even (half on each node), got ${SUBSCRIBERS}`);
const KEY = 'bench-key';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
const pipelinedAgent = new Agent({ keepAlive: true, maxSockets: INFLIGHT });
function apiPublish(port: number, body: string, via = agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/publish', agent: via, headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
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

function getJson(port: number, path: string): Promise<{ api: { publications: number }; messages: { out: number } }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
    }).on('error', reject).end();
  });
}

/** Sends `count` publications with at most INFLIGHT answers outstanding. */
async function apiPipelined(port: number, count: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const data = { n: i, t: Date.now(), pad: 'x'.repeat(64) };
      await bounded(apiPublish(port, JSON.stringify({ channel: 'feed', data }), pipelinedAgent), 60_000, 'publish answered');
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, lane));
}

type Mode = 'ws' | 'api' | 'api-pipelined';

async function measure(mode: Mode, redisPid: number, redisUrl: string) {
  const messages = mode === 'api-pipelined' ? PIPELINED_MESSAGES : MESSAGES;
  const a = await startNode(redisUrl, 'a');
  const b = await startNode(redisUrl, 'b');
  const workers = [0, 1].map(() => fork(`${root}benchmarks/scale/fanout-worker.ts`, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }));
  try {
    const failed = new Promise<never>((_, rej) => workers.forEach((w) => w.on('message', (m: { type: string; message?: string }) => m.type === 'error' && rej(new Error(`subscriber error: ${m.message}`)))));
    failed.catch(() => {});
    const ready = workers.map((w) => new Promise<void>((r) => w.on('message', (m: { type: string }) => m.type === 'ready' && r())));
    const done = workers.map((w) => new Promise<number>((r) => w.on('message', (m: { type: string; at: number }) => m.type === 'done' && r(m.at))));
    for (const w of workers) w.send({ cmd: 'open', ports: [a.port, b.port], count: SUBSCRIBERS / 2, channel: 'feed', expect: messages });
    await bounded(Promise.race([Promise.all(ready), failed]), 300_000, 'subscribers ready');
    await sleep(1000);
    const pids = [a.child.pid!, b.child.pid!, redisPid];
    const before = await Promise.all([getJson(a.adminPort, '/stats'), getJson(b.adminPort, '/stats')]);
    const load = loadavg()[0];
    const cpu0 = pids.map(cpuSeconds);
    const ws = mode === 'ws' ? await wsPublisher(a.port) : undefined;
    const t0 = Date.now();
    // One at a time for both publishers (each waits for its answer): the same arrival pattern, so
    // the difference is the API's own cost. Pipelined publications arrive in bursts that the
    // gateway writes to each socket in one writev, which costs far less per message (the fan-out
    // suite measures that); mixing the two patterns would compare batching, not publishers.
    if (mode === 'api-pipelined') await apiPipelined(a.adminPort, messages);
    else {
      for (let i = 0; i < messages; i++) {
        const data = { n: i, t: Date.now(), pad: 'x'.repeat(64) };
        await bounded(ws ? ws.publish(data) : apiPublish(a.adminPort, JSON.stringify({ channel: 'feed', data })), 60_000, 'publish answered');
      }
    }
    const published = Date.now();
    const end = Math.max(...(await bounded(Promise.all(done), 300_000, 'every subscriber has every message')));
    const cpu = pids.map(cpuSeconds).map((c, i) => c - cpu0[i]);
    ws?.close();
    const after = await Promise.all([getJson(a.adminPort, '/stats'), getJson(b.adminPort, '/stats')]);
    const delivered = SUBSCRIBERS * messages;
    const viaApi = after[0].api.publications - before[0].api.publications;
    const framesOut = after.reduce((t, s, i) => t + s.messages.out - before[i].messages.out, 0);
    // the figures below are only worth printing if the path measured is the one named
    if (mode !== 'ws' && viaApi !== messages) throw new Error(`node a counted ${viaApi} publications through the API, expected ${messages}`);
    if (framesOut < delivered) throw new Error(`the nodes wrote ${framesOut} frames, fewer than the ${delivered} the subscribers counted`);
    return {
      mode, subscribers: SUBSCRIBERS, messages, inflight: mode === 'api-pipelined' ? INFLIGHT : 1, publishMs: published - t0, totalMs: end - t0,
      deliveredPerSecond: Math.round(delivered / ((end - t0) / 1000)),
      cpu: { nodeA: cpu[0], nodeB: cpu[1], redis: cpu[2] },
      /** Both gateway processes only. */
      gatewayUsPerDelivered: ((cpu[0] + cpu[1]) / delivered) * 1e6,
      /** Gateways and redis-server. */
      usPerDelivered: ((cpu[0] + cpu[1] + cpu[2]) / delivered) * 1e6,
      apiPublicationsCounted: viaApi,
      framesWritten: framesOut,
      loadAverage1m: load,
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
  const MODES = ['ws', 'api', 'api-pipelined'] as const;
  for (let r = 0; r < RUNS; r++) for (const mode of MODES) rows.push({ run: r + 1, ...(await measure(mode, redis.pid!, redisUrl)) });
  mkdirSync(`${root}benchmarks/results`, { recursive: true });
  writeFileSync(`${root}benchmarks/results/api.json`, JSON.stringify({ rows }, null, 2));
  const runs = Array.from({ length: RUNS }, (_, i) => rows.filter((r) => r.run === i + 1));
  const of = (run: typeof rows, mode: string) => run.find((r) => r.mode === mode)!;
  const per = (f: (run: typeof rows) => number | string) => runs.map((run) => f(run)).join(', ');
  const label = { ws: 'WebSocket client, one at a time', api: 'POST /api/publish, one at a time', 'api-pipelined': `POST /api/publish, ${INFLIGHT} in flight` };
  const out = [
    `## Server API: a backend publishing to ${SUBSCRIBERS.toLocaleString('en')} subscribers on two nodes (Redis)`,
    '',
    `Reproduce: \`npm run bench -- api\` (${SUBSCRIBERS} subscribers, half on each of two \`floodgate serve --broker redis://…\` nodes, held by two client processes; publications of ~100 B sent to node a: ${MESSAGES} one at a time (each waits for its answer: HTTP 200 on a keep-alive connection, or \`published\`), and ${PIPELINED_MESSAGES} through the API with ${INFLIGHT} requests in flight, as a backend feed sends them; ${RUNS} runs of each; CPU from /proc of both gateway processes and of redis-server; everything, subscribers included, on the same 2 cores, 1-minute load average of the machine at the start of each row shown).`,
    '',
    '| publisher | run | messages | publish time | all delivered after | delivered / s | CPU node a | node b | redis | µs gateway CPU per delivered message | µs incl. redis | load |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${label[r.mode]} | ${r.run} | ${r.messages} | ${r.publishMs} ms | ${r.totalMs} ms | ${r.deliveredPerSecond} | ${r.cpu.nodeA.toFixed(2)} s | ${r.cpu.nodeB.toFixed(2)} s | ${r.cpu.redis.toFixed(2)} s | ${r.gatewayUsPerDelivered.toFixed(2)} | ${r.usPerDelivered.toFixed(2)} | ${r.loadAverage1m.toFixed(1)} |`),
    '',
    `Per run: API / WebSocket CPU per delivered message, one at a time, **${per((r) => (of(r, 'api').usPerDelivered / of(r, 'ws').usPerDelivered).toFixed(2))}**; delivered per second through the API with ${INFLIGHT} in flight **${per((r) => of(r, 'api-pipelined').deliveredPerSecond)}** at ${per((r) => of(r, 'api-pipelined').gatewayUsPerDelivered.toFixed(2))} µs of gateway CPU per delivered message; one at a time through the API ${per((r) => of(r, 'api').deliveredPerSecond)}, through a WebSocket publisher ${per((r) => of(r, 'ws').deliveredPerSecond)}. Each row checked against the nodes' own /stats: publications counted through the API on node a = messages sent, frames written by both nodes ≥ messages × subscribers.`,
    '',
  ];
  process.stdout.write(out.join('\n'));
} finally {
  killGroup(redis);
  agent.destroy();
  pipelinedAgent.destroy();
}
process.exit(0);
