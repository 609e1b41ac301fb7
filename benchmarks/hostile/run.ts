/**
 * Hostile-input suite (issue 10), two measurements side by side with their baselines:
 *  1. Decoder cost per frame: the client-frame decoder with its new checks (nesting depth by a
 *     loop over the text, bounded echoes) against the decoder before them (previous-codec.ts),
 *     alternating in rounds in one process; reported as ns/frame and the ratio new / previous.
 *  2. The flood of issue 10: 200 connections × 100 publishes of 10 KB to distinct channels against
 *     `floodgate serve` with the defaults (historyMemory 64 MB) except `--history-ttl 10s`, so
 *     that the history expires within the run; server RSS from /proc and the process's own view
 *     (/stats) before, at the peak, after the clients left and after the history expired. Side
 *     by side: the same with a smaller V8 young generation (NODE_OPTIONS=--max-semi-space-size=2),
 *     with glibc serving 8 KB+ allocations by mmap (MALLOC_MMAP_THRESHOLD_=8192), and with the
 *     budget off (`--history-memory 0`, the behaviour before the budget).
 * Prints a markdown section; writes benchmarks/results/hostile.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { decodeClientFrame } from '../../src/protocol/codec.js';
import { decodeClientFramePrevious } from './previous-codec.js';
import { floodPhases, type FloodPhases } from './flood-memory.js';

const root = new URL('../../', import.meta.url).pathname;
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

const cost = decoderCost();
const conns = Number(process.env.FG_BENCH_FLOOD_CONNECTIONS ?? 200);
const perConn = Number(process.env.FG_BENCH_FLOOD_PUBLISHES ?? 100);
const ttl = ['--history-ttl', '10s'];
const expireWait = soak ? 40_000 : 20_000;
const runs: FloodPhases[] = [];
runs.push(await floodPhases('defaults', ttl, conns, perConn, expireWait));
runs.push(await floodPhases('NODE_OPTIONS=--max-semi-space-size=2', ttl, conns, perConn, expireWait, { NODE_OPTIONS: '--max-semi-space-size=2' }));
runs.push(await floodPhases('MALLOC_MMAP_THRESHOLD_=8192', ttl, conns, perConn, expireWait, { MALLOC_MMAP_THRESHOLD_: '8192' }));
runs.push(await floodPhases('budget off (--history-memory 0), as before', [...ttl, '--history-memory', '0'], conns, perConn, expireWait));

const f1 = (n: number): string => n.toFixed(1);
const [def] = runs;
const lines = [
  '## hostile',
  '',
  `Decoder cost per inbound frame, new checks vs the decoder before issue 10 (median of alternating rounds, one process):`,
  '',
  '| frame | bytes | before (ns) | now (ns) | ratio now / before |',
  '|---|---:|---:|---:|---:|',
  ...cost.map((c) => `| ${c.frame} | ${c.bytes} | ${c.previousNs} | ${c.newNs} | ${c.ratio.toFixed(2)} |`),
  '',
  `Flood of issue 10: ${conns} connections × ${perConn} publishes of 10 KB to distinct channels, \`--history-ttl 10s\` so the history expires within the run; server RSS from /proc, the rest from /stats:`,
  '',
  '| server | RSS before (MB) | peak (MB) | peak growth (MB) | clients gone 5 s (MB) | history expired (MB) | heap total at the end (MB) | array buffers at the end (MB) | channels held at the end | history held at peak (MB) | channels evicted | flood time (s) | server CPU per publish (µs) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...runs.map((r) => `| ${r.label} | ${f1(r.baseline.rssMB)} | ${f1(r.peakRssMB)} | ${f1(r.peakRssMB - r.baseline.rssMB)} | ${f1(r.left.rssMB)} | ${f1(r.expired!.rssMB)} | ${f1(r.expired!.heapTotalMB)} | ${f1(r.expired!.arrayBuffersMB)} | ${r.expired!.channels} | ${f1(r.flooded.historyMB)} | ${r.flooded.evictions} | ${f1(r.seconds)} | ${Math.round((r.cpuSeconds * 1e6) / Math.max(1, r.answered + r.refused))} |`),
  '',
  `With the defaults the peak grew ${f1(def.peakRssMB - def.baseline.rssMB)} MB (${f1((def.peakRssMB - def.baseline.rssMB) / Math.max(1, runs[3].peakRssMB - runs[3].baseline.rssMB))}× of the growth without the budget); once the history expired ${f1(def.peakRssMB - def.expired!.rssMB)} MB of it went back to the system, with ${def.expired!.channels} channels and ${f1(def.expired!.arrayBuffersMB)} MB of Buffers left.`,
];
console.log(lines.join('\n'));
mkdirSync(`${root}benchmarks/results`, { recursive: true });
writeFileSync(`${root}benchmarks/results/hostile.json`, JSON.stringify({ cost, flood: runs }, null, 2));
process.exit(0);
