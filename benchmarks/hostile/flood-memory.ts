/**
 * The flood of issue 10 against a real `floodgate serve`, phase by phase: N connections × M
 * publishes of 10 KB to distinct channels, then every client leaves, then the history expires.
 * Server RSS is read from /proc and the process's own view (V8 heap, external memory, channels
 * held) from /stats at each phase, so a figure that stays high can be told apart: history still
 * held, V8 heap not shrunk, or freed C memory not given back to the system.
 *
 * Used by run.ts; on its own: `npx tsx benchmarks/hostile/flood-memory.ts [serve flags…]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { WebSocket } from 'ws';
import { readProcessCpu, readRss } from '../../src/system/process-usage.js';
import { listeningPort } from '../lib/measure.js';
import { smapsSplit } from '../memory/smaps.js';

const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

interface Server { child: ChildProcess; port: number }

/** `mainJs`: the CLI to run (another checkout's, to measure a change side by side). */
export async function startServer(extra: string[], env: NodeJS.ProcessEnv = {}, mainJs = `${root}dist/cli/main.js`): Promise<Server> {
  const child = spawn(process.execPath, [mainJs, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn', ...extra], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true, env: { ...process.env, ...env },
  });
  return { child, port: await listeningPort(child, 'floodgate serve') };
}

export async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  try { process.kill(-s.child.pid!, 'SIGTERM'); } catch { /* gone */ }
  await Promise.race([exited, sleep(15_000)]);
  if (s.child.exitCode === null) try { process.kill(-s.child.pid!, 'SIGKILL'); } catch { /* gone */ }
}

async function stats(port: number): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/stats`);
  return res.json();
}

/** One phase's picture of the server: RSS from /proc, the rest from /stats. */
export interface MemoryPoint {
  rssMB: number; heapUsedMB: number; heapTotalMB: number; externalMB: number; arrayBuffersMB: number;
  channels: number; historyMB: number; evictions: number;
  /** RSS of glibc's main heap (brk) and of anonymous mappings (V8's heap pages, other malloc arenas), from /proc/<pid>/smaps. */
  brkHeapMB: number; anonMB: number;
}

async function point(s: Server): Promise<MemoryPoint> {
  const st = await stats(s.port);
  const split = smapsSplit(s.child.pid!);
  return {
    brkHeapMB: split.heap / 1024, anonMB: split.anon / 1024,
    rssMB: (readRss(s.child.pid!) ?? 0) / MB,
    heapUsedMB: st.memory.heapUsed / MB, heapTotalMB: st.memory.heapTotal / MB, externalMB: st.memory.external / MB, arrayBuffersMB: st.memory.arrayBuffers / MB,
    channels: st.broker.channels, historyMB: st.broker.historyBytes / MB, evictions: st.broker.historyEvictions ?? 0,
  };
}

export interface FloodPhases {
  label: string;
  baseline: MemoryPoint;
  peakRssMB: number;
  /** Right after the last publish was answered. */
  flooded: MemoryPoint;
  /** After every client left (5 s). */
  left: MemoryPoint;
  /** After the history's age bound passed and the broker's sweep ran (undefined when not waited for). */
  expired: MemoryPoint | undefined;
  answered: number; refused: number; seconds: number;
  /** Server CPU (user + system) spent from the first connection to the last answer, seconds. */
  cpuSeconds: number;
}

/**
 * `expireAfterMs`: how long to wait after the clients left for the history to expire (the server
 * must run with a matching `--history-ttl`); 0 = do not wait. `payloadBytes`: the `data` string
 * of each publish (a payload near or over `maxPayload` needs `--max-payload` in `extra`).
 */
export async function floodPhases(label: string, extra: string[], conns: number, perConn: number, expireAfterMs: number, env: NodeJS.ProcessEnv = {}, mainJs?: string, payloadBytes = 10 * 1024): Promise<FloodPhases> {
  const server = await startServer(extra, env, mainJs);
  try {
    // quiet first: start-up grows V8's young generation, which a gateway hands back after a few quiet seconds
    await sleep(6000);
    const baseline = await point(server);
    let peak = baseline.rssMB * MB;
    const sampler = setInterval(() => { const r = readRss(server.child.pid!); if (r !== undefined && r > peak) peak = r; }, 100);
    const payload = 'x'.repeat(payloadBytes);
    const cpu0 = readProcessCpu(server.child.pid!)?.seconds ?? 0;
    const t0 = Date.now();
    let answered = 0;
    let refused = 0;
    const sockets: WebSocket[] = [];
    await Promise.all(Array.from({ length: conns }, (_, k) => new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
      sockets.push(ws);
      let got = 0;
      const done = (): void => { clearTimeout(guard); resolve(); };
      const guard = setTimeout(done, 120_000);
      ws.on('error', done);
      ws.on('close', done);
      ws.on('message', (raw) => {
        const f = JSON.parse(raw.toString());
        if (f.type === 'welcome') {
          for (let i = 0; i < perConn; i++) ws.send(`{"type":"publish","id":${i},"channel":"flood-${k}-${i}","data":"${payload}"}`);
          return;
        }
        if (f.type === 'published') answered++;
        else if (f.type === 'error') refused++;
        else return;
        if (++got === perConn) done();
      });
    })));
    const seconds = (Date.now() - t0) / 1000;
    const cpuSeconds = (readProcessCpu(server.child.pid!)?.seconds ?? 0) - cpu0;
    await sleep(500);
    const flooded = await point(server);
    for (const ws of sockets) ws.terminate();
    await sleep(5000);
    clearInterval(sampler);
    const left = await point(server);
    let expired: MemoryPoint | undefined;
    if (expireAfterMs > 0) {
      await sleep(expireAfterMs);
      expired = await point(server);
    }
    return { label, baseline, peakRssMB: peak / MB, flooded, left, expired, answered, refused, seconds, cpuSeconds };
  } finally {
    await stopServer(server);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const conns = Number(process.env.FG_BENCH_FLOOD_CONNECTIONS ?? 200);
  const perConn = Number(process.env.FG_BENCH_FLOOD_PUBLISHES ?? 100);
  const expire = Number(process.env.FG_BENCH_FLOOD_EXPIRE_MS ?? 0);
  const payload = Number(process.env.FG_BENCH_FLOOD_PAYLOAD ?? 10 * 1024);
  const r = await floodPhases('adhoc', process.argv.slice(2), conns, perConn, expire, {}, undefined, payload);
  console.log(JSON.stringify(r, (_, v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v), 2));
  process.exit(0);
}
