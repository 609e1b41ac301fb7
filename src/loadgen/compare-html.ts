import { compareResults, seriesRates, shownRows, type ComparisonRow } from './compare.js';
import { esc, renderFailureTable, scriptJson, uplotAssets } from './report-html.js';
import type { BenchResult } from './types.js';

/** Everything read from a result file is untrusted (a crafted file may put text where numbers belong). */
const h = (v: unknown): string => esc(String(v));

function runFacts(r: BenchResult): string[] {
  const stages = (r.stages ?? []).map((s) => `${h(s.connections)} ${s.rate ? `at ${h(s.rate)}/s${s.rampTo ? `→${h(s.rampTo)}/s` : ''}` : 'burst'}, hold ${h(s.durationMs)} ms`).join('; ');
  return [
    `<code>${h(r.target?.url)}</code>`,
    `started ${h(r.startedAt)}, ${h((Number(r.durationMs) / 1000).toFixed(1))} s, ${h(r.plan?.workers)} worker process(es)`,
    stages,
    `attempts <b>${h(r.totals.attempts)}</b>, held <b>${h(r.totals.successes)}</b> (<b>${h((Number(r.totals.successRate) * 100).toFixed(2))}%</b>), failures ${h(r.totals.failures)}`,
    r.diagnosis ? `Diagnosis: ${h(r.diagnosis.headline)}` : '',
  ];
}

function metricRow(r: ComparisonRow): string {
  const better = r.better === 'a' ? '<b class="a">A</b>' : r.better === 'b' ? '<b class="b">B</b>' : r.better === 'same' ? 'same' : r.scope === 'host-wide' ? 'host-wide: not ranked' : '';
  const ratio = Number.isNaN(r.ratio) ? '—' : `${h(r.ratio)}×`;
  return `<tr><td><code>${h(r.metric)}</code></td><td>${h(r.a)}</td><td>${h(r.b)}</td><td>${r.delta > 0 ? '+' : ''}${h(r.delta)}</td><td>${ratio}</td><td>${better}</td></tr>`;
}

/**
 * Two runs side by side in one self-contained HTML file (uPlot inlined, no network): the key
 * metrics with deltas and the better run, open connections and attempt/success/failure rates of
 * both on the same axes (time from each run's start), and each run's failure breakdown.
 */
export function renderComparisonReport(a: BenchResult, b: BenchResult, nameA = 'A', nameB = 'B'): string {
  const { js, css } = uplotAssets();
  const facts = [runFacts(a), runFacts(b)];
  const factRows = facts[0].map((_, i) => (facts[0][i] || facts[1][i] ? `<tr><td>${facts[0][i]}</td><td>${facts[1][i]}</td></tr>` : '')).join('');
  const rows = shownRows(compareResults(a, b)).map(metricRow).join('');
  const data = { a: seriesRates(a.series ?? []), b: seriesRates(b.series ?? []) };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>floodgate bench compare — ${h(nameA)} vs ${h(nameB)}</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
.chart{margin:1em 0}.a{color:#1565c0}.b{color:#ef6c00}code{font-size:12px}.cols{display:flex;gap:2em;flex-wrap:wrap}.cols>div{flex:1;min-width:400px}</style></head>
<body>
<h1>floodgate bench compare</h1>
<table><tr><th class="a">A: <code>${h(nameA)}</code></th><th class="b">B: <code>${h(nameB)}</code></th></tr>${factRows}</table>
<h2>Key metrics</h2>
<p>Delta is B − A, ratio B / A. Metrics that are 0 in both runs are left out.</p>
<table><tr><th>metric</th><th>A</th><th>B</th><th>delta</th><th>ratio</th><th>better</th></tr>${rows}</table>
<h2>Over time</h2>
<p>Seconds from each run's start. A solid, B dashed.</p>
<div id="open" class="chart"></div><div id="rates" class="chart"></div>
<h2>Failures</h2>
<div class="cols"><div><h3 class="a">A</h3>${renderFailureTable(a.failures ?? [])}</div><div><h3 class="b">B</h3>${renderFailureTable(b.failures ?? [])}</div></div>
<script>${js}</script>
<script>
const d = ${scriptJson(data)};
const w = Math.min(1000, document.body.clientWidth - 20);
const dash = [6, 4];
const mk = (id, title, series, data) => new uPlot({ title, width: w, height: 260, scales: { x: { time: false } }, axes: [{ label: 's' }, {}], series: [{ label: 't' }, ...series.map((s) => ({ spanGaps: true, width: 2, ...s }))] }, data, document.getElementById(id));
const rates = (r) => [r.t, r.attempts, r.successes, r.failures];
window.charts = [
  mk('open', 'Open connections', [{ label: 'A open', stroke: '#1565c0' }, { label: 'B open', stroke: '#ef6c00', dash }], uPlot.join([[d.a.t, d.a.open], [d.b.t, d.b.open]])),
  mk('rates', 'Attempts / successes / failures per second', [
    { label: 'A attempts/s', stroke: '#555' }, { label: 'A successes/s', stroke: '#2e7d32' }, { label: 'A failures/s', stroke: '#c62828' },
    { label: 'B attempts/s', stroke: '#555', dash }, { label: 'B successes/s', stroke: '#2e7d32', dash }, { label: 'B failures/s', stroke: '#c62828', dash },
  ], uPlot.join([rates(d.a), rates(d.b)])),
];
</script>
</body></html>
`;
}
