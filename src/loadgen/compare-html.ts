import { compareResults, compareWarnings, seriesRates, shownRows, type ComparisonRow } from './compare.js';
import { esc, renderFailureTable, scriptJson, uplotAssets } from './report-html.js';
import { CHART_JS, REPORT_CSS } from './report-kit.js';
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
    r.pace ? (r.pace.keptUp ? `generator kept the requested ${h(r.pace.requestedPerSecond)}/s` : `generator fell behind: ${h(r.pace.note)}`) : '',
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
  const warnings = compareWarnings(a, b).map((w) => `<div class="warnbox"><b>Not like for like:</b> ${h(w)}</div>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>floodgate bench compare — ${h(nameA)} vs ${h(nameB)}</title>
<style>${css}${REPORT_CSS}
table.metrics td:nth-child(n+2):nth-child(-n+5),table.metrics th:nth-child(n+2):nth-child(-n+5){text-align:right}
table.facts{table-layout:fixed;width:100%}table.facts td{width:50%}</style></head>
<body><main>
<h1>floodgate bench compare</h1>
<table class="data facts"><tr><th class="a">A: <code>${h(nameA)}</code></th><th class="b">B: <code>${h(nameB)}</code></th></tr>${factRows}</table>
${warnings}
<h2>Key metrics</h2>
<p class="note">Delta is B − A, ratio B / A. Metrics that are 0 in both runs are left out.</p>
<table class="data metrics"><tr><th>metric</th><th>A</th><th>B</th><th>delta</th><th>ratio</th><th>better</th></tr>${rows}</table>
<h2>Over time</h2>
<p class="note">Seconds from each run's start; A solid, B dashed. Hover for the values at that second.</p>
<div class="grid2"><div id="open" class="chart"></div><div id="rates" class="chart"></div></div>
<h2>Failures</h2>
<div class="grid2"><div><h3 class="a">A</h3>${renderFailureTable(a.failures ?? [], Number(a.totals?.attempts) || undefined)}</div><div><h3 class="b">B</h3>${renderFailureTable(b.failures ?? [], Number(b.totals?.attempts) || undefined)}</div></div>
</main>
<script>${js}</script>
<script>${CHART_JS}
const d = ${scriptJson(data)};
const dash = [6, 4];
const rates = (r) => [r.t, r.attempts, r.successes, r.failures];
window.charts = [
  fgChart('open', 'Open connections', [{ label: 'A open', stroke: '#0969da', spanGaps: true }, { label: 'B open', stroke: '#bc4c00', dash, spanGaps: true }], uPlot.join([[d.a.t, d.a.open], [d.b.t, d.b.open]]), { y: 'connections' }),
  fgChart('rates', 'Attempts, successes and failures per second', [
    { label: 'A attempts', stroke: '#57606a', spanGaps: true }, { label: 'A successes', stroke: '#1a7f37', spanGaps: true }, { label: 'A failures', stroke: '#cf222e', spanGaps: true },
    { label: 'B attempts', stroke: '#57606a', dash, spanGaps: true }, { label: 'B successes', stroke: '#1a7f37', dash, spanGaps: true }, { label: 'B failures', stroke: '#cf222e', dash, spanGaps: true },
  ], uPlot.join([rates(d.a), rates(d.b)]), { y: 'per second' }),
];
</script>
</body></html>
`;
}
