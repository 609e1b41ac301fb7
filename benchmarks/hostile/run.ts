/**
 * Hostile-input suite (issue 10), two measurements side by side with their baselines:
 *  1. Decoder cost per frame: the client-frame decoder with its new checks (nesting depth by a
 *     loop over the text, bounded echoes) against the decoder before them (previous-codec.ts),
 *     alternating in rounds in one process; reported as ns/frame and the ratio new / previous.
 *  2. The flood of issue 10: 200 connections × 100 publishes of 10 KB to distinct channels against
 *     `floodgate serve` with the defaults (historyMemory 64 MB), and the same flood with the
 *     budget off (`--history-memory 0`, i.e. the behaviour before); server RSS from /proc before,
 *     at the peak, and after the clients left.
 * Prints a markdown section; writes benchmarks/results/hostile.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { decodeClientFrame } from '../../src/protocol/codec.js';
import { readRss } from '../../src/system/process-usage.js';
import { decodeClientFramePrevious } from './previous-codec.js';

const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;
const soak = process.env.FG_BENCH_SOAK === '1';

// ---------- 1. decoder cost ----------
const FRAMES: [string, string][] = [
  ['ping', '{"type":"ping","id":5}'],
  ['subscribe with recover', '{"type":"subscribe","id":2,"channel":"prices","recover":{"epoch":"k3J9xQ2a","offset":41}}'],
  ['publish, small object', '{"type":"publish","id":4,"channel":"prices","data":{"sym":"ABC","px":10.5}}'],
  ['publish, 10 KB string', JSON.stringify({ type: 'publish', id: 4, channel: 'prices', data: 'x'.repeat(10_000) })],
  ['publish, 200-row table (full depth walk)', JSON.stringify({ type: 'publish', id: 4, channel: 'prices', data: Array.from({ length: 200 }, (_, i) => ({ i, v: [i, i * 2] })) })],
];

function nsPerFrame(fn: (t: string) => unknown, text: string, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(text);
  return Number(process.hrtime.bigint() - t0) / n;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function decoderCost(): { frame: string; bytes: number; previousNs: number; newNs: number; ratio: number }[] {
  const rounds = soak ? 21 : 9;
  return FRAMES.map(([name, text]) => {
    const n = Math.max(200, Math.floor(2_000_000 / (text.length + 200)));
    for (let w = 0; w < 3; w++) { nsPerFrame(decodeClientFramePrevious, text, n); nsPerFrame(decodeClientFrame, text, n); }
    const prev: number[] = [];
    const next: number[] = [];
    for (let r = 0; r < rounds; r++) {
      prev.push(nsPerFrame(decodeClientFramePrevious, text, n));
      next.push(nsPerFrame(decodeClientFrame, text, n));
    }
    const p = median(prev);
    const q = median(next);
    return { frame: name, bytes: text.length, previousNs: Math.round(p), newNs: Math.round(q), ratio: Math.round((q / p) * 100) / 100 };
  });
}

// ---------- 2. the flood ----------
interface Server { child: ChildProcess; port: number }

async function startServer(extra: string[]): Promise<Server> {
  const child = spawn(process.execPath, [`${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn', ...extra], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true,
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)).listen.port);
    });
    child.once('exit', (code) => reject(new Error(`floodgate serve exited ${code}`)));
  });
  return { child, port };
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  try { process.kill(-s.child.pid!, 'SIGTERM'); } catch { /* gone */ }
  await Promise.race([exited, sleep(15_000)]);
  if (s.child.exitCode === null) try { process.kill(-s.child.pid!, 'SIGKILL'); } catch { /* gone */ }
}

async function stats(port: number): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/stats`);
  return res.json();
}

interface FloodResult { label: string; baselineMB: number; peakMB: number; afterMB: number; growthMB: number; answered: number; refused: number; historyMB: number; evictions: number; seconds: number }

async function flood(label: string, extra: string[], conns: number, perConn: number): Promise<FloodResult> {
  const server = await startServer(extra);
  try {
    await sleep(1000);
    const baseline = readRss(server.child.pid!) ?? 0;
    let peak = baseline;
    const sampler = setInterval(() => { const r = readRss(server.child.pid!); if (r !== undefined && r > peak) peak = r; }, 100);
    const payload = 'x'.repeat(10 * 1024);
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
    await sleep(500);
    const s = await stats(server.port);
    for (const ws of sockets) ws.terminate();
    await sleep(soak ? 30_000 : 5000);
    clearInterval(sampler);
    const after = readRss(server.child.pid!) ?? 0;
    return {
      label, baselineMB: baseline / MB, peakMB: peak / MB, afterMB: after / MB, growthMB: (peak - baseline) / MB, answered, refused,
      historyMB: s.broker.historyBytes / MB, evictions: s.broker.historyEvictions ?? 0, seconds,
    };
  } finally {
    await stopServer(server);
  }
}

const cost = decoderCost();
const conns = Number(process.env.FG_BENCH_FLOOD_CONNECTIONS ?? 200);
const perConn = Number(process.env.FG_BENCH_FLOOD_PUBLISHES ?? 100);
const bounded = await flood('defaults (historyMemory 64 MB)', [], conns, perConn);
const unbounded = await flood('budget off (--history-memory 0), as before', ['--history-memory', '0'], conns, perConn);

const f1 = (n: number): string => n.toFixed(1);
const lines = [
  '## hostile',
  '',
  `Decoder cost per inbound frame, new checks vs the decoder before issue 10 (median of alternating rounds, one process):`,
  '',
  '| frame | bytes | before (ns) | now (ns) | ratio now / before |',
  '|---|---:|---:|---:|---:|',
  ...cost.map((c) => `| ${c.frame} | ${c.bytes} | ${c.previousNs} | ${c.newNs} | ${c.ratio.toFixed(2)} |`),
  '',
  `Flood of issue 10: ${conns} connections × ${perConn} publishes of 10 KB to distinct channels, server RSS from /proc:`,
  '',
  '| server | RSS before (MB) | peak (MB) | growth (MB) | 5 s after the clients left (MB) | history held (MB) | channels evicted | publishes answered / refused | flood time (s) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...[bounded, unbounded].map((r) => `| ${r.label} | ${f1(r.baselineMB)} | ${f1(r.peakMB)} | ${f1(r.growthMB)} | ${f1(r.afterMB)} | ${f1(r.historyMB)} | ${r.evictions} | ${r.answered} / ${r.refused} | ${f1(r.seconds)} |`),
  '',
  `RSS growth with the budget: ${f1(bounded.growthMB)} MB, ${f1(bounded.growthMB / Math.max(1, unbounded.growthMB))}× of the growth without it.`,
];
console.log(lines.join('\n'));
mkdirSync(`${root}benchmarks/results`, { recursive: true });
writeFileSync(`${root}benchmarks/results/hostile.json`, JSON.stringify({ cost, flood: [bounded, unbounded] }, null, 2));
process.exit(0);
