import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { compareResults, compareWarnings, renderComparison, renderComparisonReport, run } from '../../src/loadgen/index.js';
import type { BenchResult } from '../../src/loadgen/index.js';

/** Server text that lands in a failure example (the close reason) and must not become markup. */
const EVIL = '</td><script>alert("x")</script><img src=x onerror=alert(1)>';
const escaped = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

describe('renderComparisonReport() on two real runs', () => {
  let wss: WebSocketServer;
  let a: BenchResult;
  let b: BenchResult;
  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as { port: number }).port;
    let n = 0;
    // `/evil` closes every other connection right after the upgrade, with a hostile reason.
    wss.on('connection', (ws, req) => {
      if (req.url === '/evil' && n++ % 2 === 0) ws.close(4000, EVIL);
    });
    a = await run({ url: `ws://127.0.0.1:${port}/`, connections: 20, rate: 100, durationMs: 300, workers: 1, tickMs: 100 });
    b = await run({ url: `ws://127.0.0.1:${port}/evil`, connections: 20, durationMs: 300, workers: 1, tickMs: 100 });
  });
  after(() => wss.close());

  it('compares the runs and says which did better', () => {
    assert.equal(a.totals.successes, 20);
    assert.equal(b.totals.successes, 10);
    const rows = Object.fromEntries(compareResults(a, b).map((r) => [r.metric, r]));
    assert.deepEqual([rows.success_rate.a, rows.success_rate.b, rows.success_rate.better], [1, 0.5, 'a']);
    assert.deepEqual([rows['failures.frames.close_4000'].a, rows['failures.frames.close_4000'].b, rows['failures.frames.close_4000'].better], [0, 10, 'a']);
    assert.equal(rows.attempts.better, null);
    // host-wide counters count other processes too: shown, never ranked
    const scoped = (r: BenchResult, scope: 'host' | 'netns'): BenchResult => ({ ...r, evidence: { ...r.evidence, kernel: { ...r.evidence.kernel, scope, delta: { 'TcpExt.ListenOverflows': r === a ? 0 : 5 } } } });
    const host = Object.fromEntries(compareResults(scoped(a, 'host'), scoped(b, 'netns')).map((r) => [r.metric, r]));
    assert.deepEqual([host['kernel.TcpExt.ListenOverflows'].scope, host['kernel.TcpExt.ListenOverflows'].better], ['host-wide', null]);
    assert.match(renderComparison(compareResults(scoped(a, 'host'), scoped(b, 'host'))), /kernel\.TcpExt\.ListenOverflows\s+0\s+5\s+\+5\s+—\s+\(host-wide: not ranked\)/);
    const ns = Object.fromEntries(compareResults(scoped(a, 'netns'), scoped(b, 'netns')).map((r) => [r.metric, r]));
    assert.deepEqual([ns['kernel.TcpExt.ListenOverflows'].scope, ns['kernel.TcpExt.ListenOverflows'].better], ['netns', 'a']);
    assert.ok(rows.handshakes_per_s.a > 0 && rows.handshakes_per_s.b > 0);
    for (const l of ['connect', 'handshake']) for (const p of ['p50', 'p90', 'p99']) assert.ok(rows[`${p}_${l}_ms`].a > 0, `${p}_${l}_ms`);
    assert.match(renderComparison(compareResults(a, b), 'before', 'after'), /^success_rate\s+1\s+0\.5\s+-0\.5\s+0\.5×\s+A$/m);
  });

  it('the terminal table keeps its columns aligned whatever the file names, and warns when the runs differ', () => {
    const text = renderComparison(compareResults(a, b), '/a/very/long/path/to/before-tuning-result.json', 'after.json', ['A and B hit different targets: x vs y']);
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(0, 3), ['A: /a/very/long/path/to/before-tuning-result.json', 'B: after.json', 'warning: A and B hit different targets: x vs y']);
    const table = lines.slice(4);
    // numbers are right-aligned under their heads: each row's B and delta end where the heads end
    for (const head of [' B', 'delta']) {
      const end = table[0].indexOf(head) + head.length;
      for (const row of table.slice(1)) assert.ok(row[end - 1] !== ' ' && row[end] === ' ', `${head}: ${row}`);
    }
  });

  it('warns when A and B hit different targets or ran different scenarios', () => {
    const w = compareWarnings(a, b);
    assert.equal(w[0], `A and B hit different targets: ${a.target.url} vs ${b.target.url}`);
    assert.equal(w[1], 'A and B used different scenarios: 20 at 100/s, hold 300 ms vs 20 burst, hold 300 ms');
    assert.deepEqual(compareWarnings(a, a), []);
    assert.ok(renderComparisonReport(a, b).includes('Not like for like:</b> A and B hit different targets'));
  });

  it('shows both runs\' figures, series and failures, and escapes the server text', () => {
    const html = renderComparisonReport(a, b, 'before.json', 'after.json');
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'no external resources');
    assert.equal(html.split('<script').length - 1, 2, 'uPlot and the chart script only');
    for (const r of compareResults(a, b).filter((x) => /^(success_rate|handshakes_per_s|p(50|90|99)_(connect|handshake)_ms)$/.test(x.metric))) {
      assert.ok(html.includes(`<td><code>${r.metric}</code></td><td>${r.a}</td><td>${r.b}</td>`), r.metric);
    }
    assert.ok(html.includes(a.target.url) && html.includes(b.target.url));
    assert.ok(html.includes(JSON.stringify(a.series.map((p) => p.open))), 'A open series');
    assert.ok(html.includes(JSON.stringify(b.series.map((p) => p.open))), 'B open series');
    assert.ok(html.includes('<code>frames.close_4000</code>'));
    assert.ok(!html.includes(EVIL) && !html.includes('<img src=x'), 'raw server text');
    assert.ok(html.includes(escaped(EVIL)), 'escaped server text');
  });

  it('escapes text a crafted file puts anywhere, numbers included', () => {
    const bad = structuredClone(b) as unknown as Record<string, any>;
    bad.target.url = '"><svg onload=alert(1)>';
    bad.totals.attempts = '<iframe src=x>';
    bad.failures[0].kind = '<u>kind</u>';
    bad.failures[0].count = '<u>count</u>';
    bad.startedAt = '<u>date</u>';
    const html = renderComparisonReport(a, bad as BenchResult, '<u>name</u>', 'b.json');
    assert.doesNotMatch(html, /<svg|<iframe|<u>/);
    assert.ok(html.includes('&lt;u&gt;name&lt;/u&gt;') && html.includes('&lt;iframe src=x&gt;'));
  });
});
