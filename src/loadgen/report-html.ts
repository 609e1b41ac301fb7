import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FailureBucket } from '../doctor/run-evidence.js';
import type { BenchResult } from './types.js';

const require = createRequire(import.meta.url);

/** uPlot's script and CSS, read from the installed package, to inline into a report. */
export function uplotAssets(): { js: string; css: string } {
  return {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

export const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
/** JSON safe inside a <script> element. */
export const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

/** The failure breakdown as a table (every field escaped: the examples carry raw server text). */
export function renderFailureTable(failures: FailureBucket[]): string {
  if (failures.length === 0) return '<p>None.</p>';
  const rows = failures
    .map((f) => `<tr><td><code>${esc(String(f.kind))}</code></td><td>${esc(String(f.side))}</td><td>${esc(String(f.count))}</td><td>${esc(String(f.example))}${f.retryAfter ? ` (Retry-After ${esc(f.retryAfter.join(', '))})` : ''}</td></tr>`)
    .join('');
  return `<table><tr><th>kind</th><th>side</th><th>count</th><th>example</th></tr>${rows}</table>`;
}

const KERNEL_OF_INTEREST = /ListenOverflows|ListenDrops|ReqQFull|Syncookies|TimeWaitOverflow|AbortOnMemory|EstabResets|AttemptFails/;

/** A merged run's machines, each with its own counters, socket states and diagnosis (host-wide facts are per machine). */
export function renderMachines(parts: NonNullable<BenchResult['parts']>): string {
  const rows = parts.map((p) => {
    const e = p.evidence;
    const kernel = Object.entries(e.kernel?.delta ?? {}).filter(([k, v]) => KERNEL_OF_INTEREST.test(k) && v !== 0).map(([k, v]) => `${k} +${v}`).join(', ') || '—';
    const peak = Object.entries(e.socketStates?.peak ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || '—';
    const range = e.generator.portRange ?? e.settings?.ipLocalPortRange;
    return `<tr><td><b>${esc(p.label)}</b>${p.hostname && p.hostname !== p.label ? `<br><small>${esc(p.hostname)}</small>` : ''}</td>`
      + `<td>${p.segment ? `${p.segment.index}/${p.segment.count}` : '—'}</td>`
      + `<td>${p.totals.successes} / ${p.totals.attempts}</td>`
      + `<td>${p.clock?.skewMs !== undefined ? `${p.clock.skewMs} ms (rtt ${p.clock.rttMs} ms)` : esc(p.clock?.source ?? '—')}${p.offsetS ? `<br>offset ${p.offsetS} s` : ''}</td>`
      + `<td>${esc(kernel)}</td><td>${esc(peak)}; TIME_WAIT at end ${e.generator.timeWaitToTarget ?? 0}</td>`
      + `<td>${range ? `${range[0]}–${range[1]}` : '—'}; ${e.generator.processes} process(es), peak ${e.generator.peakFdsPerProcess ?? '?'} fds</td>`
      + `<td>${esc(p.diagnosis?.headline ?? '')}${(p.diagnosis?.causes ?? []).map((c) => `<br>[${esc(c.side)}] ${esc(c.verdict)}`).join('')}</td></tr>`;
  }).join('');
  return `<h2>Machines</h2><p>Kernel counters and socket states belong to one machine (one network namespace): each row is that machine's own, and the diagnosis above reads each machine's own.</p>`
    + `<table id="machines"><tr><th>machine</th><th>segment</th><th>held / attempts</th><th>clock skew vs Redis</th><th>kernel (delta)</th><th>sockets toward the target (peak)</th><th>ports, processes</th><th>diagnosis</th></tr>${rows}</table>`;
}

/**
 * One self-contained HTML file (uPlot and its CSS inlined, no network): open connections,
 * attempt/success/failure rates and handshake percentiles over time, the failure breakdown,
 * latency table and the diagnosis.
 */
export function renderReport(r: BenchResult): string {
  const { js, css } = uplotAssets();
  const s = r.series;
  const data = {
    t: s.map((p) => p.t),
    open: s.map((p) => p.open),
    attempts: s.map((p) => p.attempts),
    successes: s.map((p) => p.successes),
    failures: s.map((p) => p.failures),
    p50: s.map((p) => p.handshakeP50),
    p99: s.map((p) => p.handshakeP99),
  };
  const latRows = Object.entries(r.latencyMs)
    .map(([k, l]) => `<tr><td>${esc(k)}</td><td>${l.count}</td><td>${l.p50}</td><td>${l.p90}</td><td>${l.p99}</td><td>${l.max}</td></tr>`)
    .join('');
  const thresholdRows = r.thresholds.map((t) => `<li class="${t.ok ? 'ok' : 'bad'}">${t.ok ? 'ok' : 'BROKEN'}: <code>${esc(t.expression)}</code> (actual ${t.actual})</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>floodgate bench — ${esc(r.target.url)}</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.chart{margin:1em 0}.ok{color:#060}.bad{color:#b00;font-weight:bold}code{font-size:12px}</style></head>
<body>
<h1>floodgate bench</h1>
<p><code>${esc(r.target.url)}</code> · started ${esc(r.startedAt)} · ${(r.durationMs / 1000).toFixed(1)} s · ${r.plan.workers} worker process(es)${r.parts ? ` on ${r.parts.length} machines (merged)` : ''}${r.segment ? ` · segment ${r.segment.index}/${r.segment.count} on ${esc(r.machine?.label ?? '')}` : ''}</p>
<p>Attempts <b>${r.totals.attempts}</b>, held to the end <b>${r.totals.successes}</b> (success rate <b>${(r.totals.successRate * 100).toFixed(2)}%</b>), peak open ${r.totals.peakOpen}, failures ${r.totals.failures}.</p>
${r.diagnosis ? `<p><b>Diagnosis:</b> ${esc(r.diagnosis.headline)}</p><ul>${r.diagnosis.causes.map((c) => `<li>[${esc(c.side)}] ${esc(c.verdict)}${c.fix ? `<br>Fix: ${esc(c.fix)}` : ''}</li>`).join('')}</ul>` : ''}
${thresholdRows ? `<h2>Thresholds</h2><ul>${thresholdRows}</ul>` : ''}
<h2>Over time</h2>
<div id="open" class="chart"></div><div id="rates" class="chart"></div><div id="latency" class="chart"></div>
<h2>Latency (ms)</h2><table><tr><th>measure</th><th>n</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>${latRows}</table>
<h2>Failures</h2>${renderFailureTable(r.failures)}
${r.parts ? renderMachines(r.parts) : ''}
<script>${js}</script>
<script>
const d = ${scriptJson(data)};
const w = Math.min(1000, document.body.clientWidth - 20);
const mk = (id, title, series, cols) => new uPlot({ title, width: w, height: 260, scales: { x: { time: false } }, axes: [{ label: 's' }, {}], series: [{ label: 't' }, ...series] }, [d.t, ...cols], document.getElementById(id));
window.charts = [
  mk('open', 'Open connections', [{ label: 'open', stroke: '#1565c0', width: 2 }], [d.open]),
  mk('rates', 'Attempts / successes / failures per interval', [{ label: 'attempts', stroke: '#555' }, { label: 'successes', stroke: '#2e7d32' }, { label: 'failures', stroke: '#c62828' }], [d.attempts, d.successes, d.failures]),
  mk('latency', 'Handshake latency (ms)', [{ label: 'p50', stroke: '#6a1b9a' }, { label: 'p99', stroke: '#ef6c00' }], [d.p50, d.p99]),
];
</script>
</body></html>
`;
}
