import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFloodgateError } from '../../src/errors.js';
import { decodeHistogram, encodeHistogram, newHistogram, summarize } from '../../src/loadgen/histograms.js';
import { run } from '../../src/loadgen/index.js';
import { mergeResults, mergeSeries } from '../../src/loadgen/merge.js';
import type { BenchResult } from '../../src/loadgen/types.js';
import { startWsServerProcess } from '../helpers/ws-server-process.js';

const root = new URL('../..', import.meta.url).pathname;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const mergeError = (re: RegExp) => (e: unknown): boolean => {
  assert.ok(isFloodgateError(e), String(e));
  assert.equal(e.code, 'FG_ERR_BENCH_MERGE');
  assert.match(e.message, re);
  return true;
};

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'bench', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const kill = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000);
  return new Promise((res) => child.on('close', (status) => {
    clearTimeout(kill);
    res({ status, stdout, stderr });
  }));
}

describe('bench merge', { timeout: 120_000 }, () => {
  let server: { url: string; stop: () => Promise<void> };
  let url: string;
  let dir: string;
  let segments: BenchResult[];
  let whole: BenchResult;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-merge-'));
    server = await startWsServerProcess();
    url = server.url;
    // one scenario of 101 connections at 7/s… in 50 ms steps, split 3 ways, and once whole
    const scenario = { url, stages: [{ connections: 5, durationMs: 100 }, { connections: 101, rate: 700, durationMs: 200 }], workers: 1, tickMs: 250 };
    segments = [];
    for (const i of [1, 2, 3]) segments.push(await run({ ...scenario, segment: `${i}/3`, label: `m${i}` }));
    whole = await run(scenario);
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three segments add up to the unsegmented scenario, with exact histograms', () => {
    const m = mergeResults(segments.map((r, k) => ({ result: clone(r), source: `seg${k + 1}.json` })));
    assert.deepEqual(segments.map((r) => r.totals.attempts), [34, 34, 33]);
    assert.deepEqual(m.stages, whole.stages);
    assert.equal(m.totals.attempts, whole.totals.attempts);
    assert.equal(m.totals.successes, 101);
    assert.equal(m.plan.connections, 101);
    assert.equal(m.plan.workers, 3);
    // every recorded handshake counts once: the merged histogram is the union of the three
    const h = newHistogram();
    for (const r of segments) h.add(decodeHistogram(r.histograms.handshake));
    assert.deepEqual(m.latencyMs.handshake, summarize(h));
    assert.equal(decodeHistogram(m.histograms.handshake).totalCount, 101);
    assert.equal(m.series.reduce((s, p) => s + p.attempts, 0), 101);
    assert.equal(m.series.reduce((s, p) => s + p.successes, 0), 101);
    assert.deepEqual(m.parts!.map((p) => [p.label, p.segment?.index, p.totals.attempts]), [['m1', 1, 34], ['m2', 2, 34], ['m3', 3, 33]]);
    assert.match(m.diagnosis!.headline, /^All 101 handshakes succeeded on 3 machines\.$/);
  });

  it('HDR merge is exact: the merged percentiles equal one histogram of all values', () => {
    const all = newHistogram();
    const parts = [newHistogram(), newHistogram(), newHistogram()];
    for (let v = 1; v <= 30_000; v++) {
      const us = 100 + ((v * 7919) % 250_000);
      all.recordValue(us);
      parts[v % 3].recordValue(us);
    }
    const base = clone(segments[0]);
    const inputs = parts.map((h, k) => {
      const r = clone(base);
      r.segment = { ...r.segment!, index: k + 1 };
      r.histograms = { ...r.histograms, connect: encodeHistogram(h) };
      return { result: r, source: `s${k}` };
    });
    const m = mergeResults(inputs);
    // (through the same encoding a result file uses: a decoded max is its bucket's highest equivalent value)
    assert.deepEqual(m.latencyMs.connect, summarize(decodeHistogram(encodeHistogram(all))));
    assert.equal(m.histograms.connect, encodeHistogram(decodeHistogram(encodeHistogram(all))));
  });

  it('series: summed interval by interval, shifted by each run\'s start, with exact per-interval percentiles', () => {
    const h1 = newHistogram();
    const h2 = newHistogram();
    [1000, 2000, 3000].forEach((v) => h1.recordValue(v));
    [4000, 500_000].forEach((v) => h2.recordValue(v));
    const p = (t: number, open: number, n: number, hist?: string) => ({ t, open, attempts: n, successes: n, failures: 0, handshakeP50: 0, handshakeP99: 0, handshakeHist: hist });
    const s = mergeSeries([[p(1, 3, 3, encodeHistogram(h1)), p(2, 3, 0)], [p(1, 2, 2, encodeHistogram(h2)), p(2, 2, 0)]], [0, 1], 1);
    assert.deepEqual(s.map((x) => [x.t, x.open, x.attempts]), [[1, 3, 3], [2, 5, 2], [3, 2, 0]]);
    assert.equal(s[1].handshakeP99, summarize(h2).p99);
    assert.equal(s[0].handshakeP50, 2);
  });

  it('refuses what is not one run, naming the files', () => {
    const src = segments.map((r, k) => ({ result: clone(r), source: `seg${k + 1}.json` }));
    assert.throws(() => mergeResults(src.slice(0, 2)), mergeError(/Missing segment 3\/3 of 3 \(have 1\/3, 2\/3\); pass --partial/));
    const partial = mergeResults(src.slice(0, 2), { partial: true });
    assert.equal(partial.totals.attempts, 68);
    assert.equal(partial.stages[1].connections, 68);
    assert.throws(() => mergeResults([src[0], src[0]]), mergeError(/Segment 1\/3 is given twice: seg1.json and seg1.json/));
    assert.throws(() => mergeResults([...src, { result: clone(whole), source: 'whole.json' }]), mergeError(/only segment results or none.*plain runs \(whole.json\)/));
    const other = clone(segments[1]);
    other.target.url = 'ws://10.0.0.1:1/';
    assert.throws(() => mergeResults([src[0], { result: other, source: 'other.json' }, src[2]]), mergeError(/same URL.*other.json: ws:\/\/10.0.0.1:1\//));
    const four = clone(segments[1]);
    four.segment!.count = 4;
    assert.throws(() => mergeResults([src[0], { result: four, source: 'four.json' }]), mergeError(/one split.*four.json as 2\/4/));
    const merged = mergeResults(src);
    assert.throws(() => mergeResults([{ result: merged, source: 'run.json' }]), mergeError(/run.json is already a merged result/));
  });

  it('CLI: merge files into run.json + report, then compare the merged run with the unsegmented one', async () => {
    const files = segments.map((r, k) => {
      const f = join(dir, `seg${k + 1}.json`);
      writeFileSync(f, JSON.stringify(r));
      return f;
    });
    const wholeFile = join(dir, 'whole.json');
    writeFileSync(wholeFile, JSON.stringify(whole));
    const out = join(dir, 'run.json');
    const report = join(dir, 'run.html');
    const r = await cli(['merge', ...files, '--out', out, '--report', report]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /held to the end 101 of 101 attempted/);
    assert.match(r.stdout, /Machines \(3, merged\):\n {2}m1 1\/3: 34\/34 held/);
    const merged = JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
    assert.equal(merged.schema, 'floodgate.bench/1');
    assert.equal(merged.parts!.length, 3);
    const html = readFileSync(report, 'utf8');
    assert.match(html, /<h2>Machines<\/h2>/);
    assert.match(html, /on 3 machines \(merged\)/);
    const c = await cli(['compare', wholeFile, out, '--json']);
    assert.equal(c.status, 0, c.stderr);
    const rows = JSON.parse(c.stdout) as { metric: string; a: number; b: number }[];
    const row = (m: string) => rows.find((x) => x.metric === m)!;
    assert.deepEqual([row('attempts').a, row('attempts').b], [101, 101]);
    assert.deepEqual([row('successes').a, row('successes').b], [101, 101]);
    const judged = await cli(['merge', ...files, '--threshold', 'successes>=101', '--threshold', 'attempts>=102', '--json']);
    assert.equal(judged.status, 1, judged.stderr);
    assert.deepEqual((JSON.parse(judged.stdout) as BenchResult).thresholds.map((t) => [t.expression, t.ok]), [['successes>=101', true], ['attempts>=102', false]]);
    const bad = await cli(['merge', files[0], files[1]]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /FG_ERR_BENCH_MERGE: Missing segment 3\/3/);
  });
});
