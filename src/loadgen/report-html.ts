import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { diagnoseRun } from '../doctor/diagnose-run.js';
import type { FailureBucket } from '../doctor/run-evidence.js';
import { CHART_JS, PALETTE, REPORT_CSS } from './report-kit.js';
import { CO_NOTE, START_LAG_NOTE, retryAfterNote } from './summary.js';
import type { BenchResult, LatencySummary } from './types.js';
import { samplingNote } from './sampling-note.js';

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
/** Anything read from a result file is untrusted text, numbers included. */
const h = (v: unknown): string => esc(String(v ?? ''));
const num = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en-US') : h(v));
const ms = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${num(v)} ms`);

/** The failure breakdown as a table (every field escaped: the examples carry raw server text). */
export function renderFailureTable(failures: FailureBucket[], attempts?: number): string {
  if (failures.length === 0) return '<p>None.</p>';
  const share = (n: number): string => (attempts ? `${((n / attempts) * 100).toFixed(1)}%` : '');
  const rows = failures
    .map((f) => `<tr><td><code>${h(f.kind)}</code></td><td>${h(f.side)}</td><td class="n">${num(f.count)}</td>${attempts ? `<td class="n">${share(f.count)}</td>` : ''}<td>${h(f.example)}${h(retryAfterNote(f))}</td></tr>`)
    .join('');
  return `<table class="data"><tr><th>kind</th><th>side</th><th class="n">count</th>${attempts ? '<th class="n">of attempts</th>' : ''}<th>example</th></tr>${rows}</table>`;
}

const PHASES: { key: string; label: string; note?: string }[] = [
  { key: 'connect', label: 'TCP connect', note: 'SYN sent → connected; 1 s, 3 s steps mean dropped SYNs' },
  { key: 'handshake', label: 'WebSocket handshake', note: 'connected → 101 answer' },
  { key: 'corrected', label: 'handshake (CO)', note: CO_NOTE },
  { key: 'firstMessage', label: 'first message', note: 'open → first frame from the server' },
  { key: 'message', label: 'message', note: 'publish → delivery (publishing runs)' },
  { key: 'startLag', label: 'start lag', note: START_LAG_NOTE },
];

function latencyTable(r: BenchResult): string {
  const measured = r.latencyMs.handshake?.count ?? 0;
  const co = (r.stages ?? []).some((s) => s.rate !== undefined);
  const get = (k: string): LatencySummary | undefined => (k === 'corrected' ? (co ? r.correctedHandshakeMs : undefined) : (r.latencyMs as unknown as Record<string, LatencySummary>)[k]);
  const rows = PHASES.map((p) => ({ p, l: get(p.key) }))
    // a phase nobody reached (n = 0) has no latency to show
    .filter(({ l }) => l !== undefined && l.count > 0)
    .map(({ p, l }) => {
      const n = p.key === 'corrected' ? `${num(measured)}<div class="note">+${num(Math.max(0, l!.count - measured))} modelled</div>` : num(l!.count);
      return `<tr><td>${h(p.label)}${p.note ? `<div class="note">${h(p.note)}</div>` : ''}</td><td class="n">${n}</td><td class="n">${num(l!.p50)}</td><td class="n">${num(l!.p90)}</td><td class="n">${num(l!.p99)}</td><td class="n">${num(l!.p999)}</td><td class="n">${num(l!.max)}</td></tr>`;
    })
    .join('');
  return `<table class="data"><tr><th>phase</th><th class="n">n</th><th class="n">p50 ms</th><th class="n">p90 ms</th><th class="n">p99 ms</th><th class="n">p99.9 ms</th><th class="n">max ms</th></tr>${rows}</table>`;
}

function diagnosisHtml(r: BenchResult): string {
  // the doctor's full causes (evidence lines included) when the evidence can be read again; else the stored verdicts
  let causes: { side: string; verdict: string; fix?: string; evidence?: string[] }[] = [];
  let headline = r.diagnosis?.headline ?? '';
  let notes: string[] = [];
  if (r.diagnosis && Array.isArray(r.diagnosis.notes)) {
    causes = r.diagnosis.causes;
    notes = r.diagnosis.notes;
  } else {
    // results from before the diagnosis carried its evidence: ask the doctor again
    try {
      const d = diagnoseRun(r.evidence);
      causes = d.causes;
      headline = d.headline;
      notes = d.notes;
    } catch {
      causes = r.diagnosis?.causes ?? [];
    }
  }
  if (!headline) return '';
  const cards = causes.map((c) => `<div class="cause ${h(c.side)}"><span class="badge">${h(c.side)}</span>${h(c.verdict)}${
    c.evidence?.length ? `<ul>${c.evidence.map((e) => `<li>${h(e)}</li>`).join('')}</ul>` : ''}${
    c.fix ? `<div class="fix"><b>Fix:</b> ${h(c.fix)}</div>` : ''}</div>`).join('');
  return `<h2>Diagnosis</h2><p><b>${h(headline)}</b></p>${cards}${notes.map((n) => `<p class="note">Note: ${h(n)}</p>`).join('')}`;
}

const KERNEL_OF_INTEREST = /ListenOverflows|ListenDrops|ReqQFull|Syncookies|TimeWaitOverflow|AbortOnMemory|EstabResets|AttemptFails|Softnet\.Dropped/;

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
    + `<table id="machines" class="data"><tr><th>machine</th><th>segment</th><th>held / attempts</th><th>clock skew vs Redis</th><th>kernel (delta)</th><th>sockets toward the target (peak)</th><th>ports, processes</th><th>diagnosis</th></tr>${rows}</table>`;
}

/** The counters the diagnosis reads (drops, cookies, resets, opens, TIME_WAIT); the rest fold away. */
const KEY_COUNTERS = /ListenOverflows|ListenDrops|ReqQFull|Syncookies|TimeWaitOverflow|AbortOnMemory|AbortOnData|EstabResets|AttemptFails|ActiveOpens|PassiveOpens|OutRsts|TcpExt\.TW$|Softnet\.Dropped/;

function evidenceHtml(r: BenchResult): string {
  const e = r.evidence;
  if (!e) return '';
  const out: string[] = ['<h2>Evidence</h2><div class="grid2">'];
  const deltas = Object.entries(e.kernel?.delta ?? {}).filter(([, v]) => typeof v === 'number' && v !== 0).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const table = (list: [string, number][]): string =>
    `<table class="data"><tr><th>counter</th><th class="n">delta</th></tr>${list.map(([k, v]) => `<tr><td><code>${h(k)}</code></td><td class="n">${num(v)}</td></tr>`).join('')}</table>`;
  const key = deltas.filter(([k]) => KEY_COUNTERS.test(k));
  const rest = deltas.filter(([k]) => !KEY_COUNTERS.test(k));
  const netns = e.kernel?.scope === 'netns';
  out.push(`<div><h3>Kernel counters, ${netns ? 'this network namespace' : 'host-wide'} (change over the run)</h3><p class="note">${
    netns ? 'Counted in the run\'s own network namespace: these are this run\'s.' : 'Every process on this machine (this network namespace) counts here, not only this run; for this run\'s own, run it in a network namespace (ip netns exec).'}</p>${
    key.length ? table(key) : '<p>No connection counter moved (no overflows, drops, cookies or resets).</p>'}${
    rest.length ? `<details><summary class="note">${rest.length} other counters that moved</summary>${table(rest)}</details>` : ''}</div>`);
  const st = e.socketStates ?? { before: {}, peak: {}, after: {} };
  const names = [...new Set([...Object.keys(st.before ?? {}), ...Object.keys(st.peak ?? {}), ...Object.keys(st.after ?? {})])];
  out.push(`<div><h3>TCP sockets toward port ${num(e.target?.port)}</h3>${names.length ? `<table class="data"><tr><th>state</th><th class="n">before</th><th class="n">peak</th><th class="n">after</th></tr>${
    names.map((n) => `<tr><td>${h(n)}</td><td class="n">${num(st.before?.[n] ?? 0)}</td><td class="n">${num(st.peak?.[n] ?? 0)}</td><td class="n">${num(st.after?.[n] ?? 0)}</td></tr>`).join('')}</table>` : '<p>None seen.</p>'}${
    st.samples ? `<p class="note">${h(samplingNote(st))}</p>` : ''}`);
  const g = e.generator;
  const rows: [string, string][] = [
    ['generator fds (busiest process)', `${num(g?.peakFdsPerProcess ?? 0)} of ${g?.fdLimitPerProcess === undefined ? 'unknown' : num(g.fdLimitPerProcess)}`],
    ['generator TIME_WAIT toward the target at the end', num(g?.timeWaitToTarget ?? 0)],
  ];
  if (e.server) rows.push([`server pid ${num(e.server.pid)} fds`, `peak ${num(e.server.peakFds ?? 0)} of ${e.server.fdLimit === undefined ? 'unknown' : num(e.server.fdLimit)}${e.server.fdsAtEnd !== undefined ? `, ${num(e.server.fdsAtEnd)} at the end` : ''}`]);
  if (e.listener) rows.push(['listener', `backlog ${num(e.listener.backlog ?? '?')}, somaxconn ${num(e.listener.somaxconn ?? '?')}, accept queue peak ${num(e.listener.maxAcceptQueue ?? '?')}`]);
  for (const [k, v] of Object.entries(e.settings ?? {})) rows.push([`sysctl ${k}`, Array.isArray(v) ? v.map(num).join('–') : num(v)]);
  out.push(`<h3>File descriptors, listener, kernel settings</h3><table class="data">${rows.map(([k, v]) => `<tr><td>${h(k)}</td><td>${v}</td></tr>`).join('')}</table></div>`);
  out.push('</div>');
  return out.join('');
}

function settingsHtml(r: BenchResult): string {
  const stages = (r.stages ?? []).map((s, i) => `<tr><td class="n">${i + 1}</td><td class="n">${num(s.connections)}</td><td>${s.rate === undefined ? 'burst' : `${num(s.rate)}/s${s.rampTo !== undefined ? ` → ${num(s.rampTo)}/s` : ''}`}</td><td>${ms(Number(s.durationMs))}</td></tr>`).join('');
  const p = r.plan;
  const st = r.settings;
  const rows: [string, string][] = [
    ['worker processes', p?.inProcess ? `none: ${num(p?.perWorker?.[0])} connections in the coordinator's process` : `${num(p?.workers)} (${(p?.perWorker ?? []).map(num).join(' + ')} connections)`],
    ['source addresses', p?.sourceIps?.length ? h(p.sourceIps.length > 4 ? `${p.sourceIps[0]} … ${p.sourceIps.at(-1)} (${p.sourceIps.length})` : p.sourceIps.join(', ')) : 'the kernel\'s choice (one)'],
    ['ephemeral ports per source address', `${num(p?.portsPerSourceIp)}${p?.portRange ? ` (${num(p.portRange[0])}–${num(p.portRange[1])})` : ''}`],
    ['fd limit per process', p?.fdLimitPerProcess === undefined ? 'unknown' : num(p.fdLimitPerProcess)],
    ['estimated generator memory', `${num(Math.round(Number(p?.estimatedMemoryBytes ?? 0) / 1048576))} MiB`],
  ];
  if (st) {
    rows.push(['connect / handshake timeout', `${ms(st.connectTimeoutMs)} / ${ms(st.handshakeTimeoutMs)}`], ['teardown', h(st.teardown)]);
    if (st.protocol) rows.push(['Sec-WebSocket-Protocol', h(st.protocol)]);
    if (st.headerNames.length) rows.push(['extra headers', h(st.headerNames.join(', '))]);
    if (st.subscribe) rows.push(['subscribe', h(st.subscribe)]);
    if (st.publishRate) rows.push(['publish', `${num(st.publishRate)}/s per connection${st.rawPayload ? ' (raw payload)' : ''}`]);
    if (st.holdForever) rows.push(['hold', `until stopped${st.maxDurationMs ? `, at most ${ms(st.maxDurationMs)}` : ''}`]);
    if (st.thresholds.length) rows.push(['thresholds', h(st.thresholds.join('; '))]);
    if (st.serverPid) rows.push(['server pid watched', num(st.serverPid)]);
  }
  const warnings = (p?.warnings ?? []).map((w) => `<li>${h(w)}</li>`).join('');
  return `<h2>Settings</h2><div class="grid2"><div><h3>Stages</h3><table class="data"><tr><th class="n">#</th><th class="n">connections</th><th>arrivals</th><th>hold</th></tr>${stages}</table></div>
<div><h3>Plan and options</h3><table class="data">${rows.map(([k, v]) => `<tr><td>${h(k)}</td><td>${v}</td></tr>`).join('')}</table>${warnings ? `<h3>Pre-flight warnings</h3><ul>${warnings}</ul>` : ''}</div></div>`;
}

function tiles(r: BenchResult): string {
  const t = r.totals;
  const top = [...(r.failures ?? [])].sort((a, b) => b.count - a.count)[0];
  const hs = r.latencyMs.handshake;
  const tile = (k: string, v: string, s = '', cls = ''): string => `<div class="tile ${cls}"><div class="k">${h(k)}</div><div class="v">${v}</div><div class="s">${s}</div></div>`;
  return `<div class="tiles">${[
    tile('attempts', num(t.attempts), `peak open ${num(t.peakOpen)}`),
    tile('held to the end', num(t.successes), `${h((Number(t.successRate) * 100).toFixed(2))}% of attempts`, t.successes === t.attempts ? 'ok' : ''),
    tile('failures', num(t.failures), top ? `most: <code>${h(top.kind)}</code>` : 'none', t.failures > 0 ? 'bad' : 'ok'),
    tile('handshake p99', hs?.count ? ms(hs.p99) : '—', hs?.count ? `p50 ${ms(hs.p50)}` : 'no handshake completed'),
    tile('connect p99', r.latencyMs.connect?.count ? ms(r.latencyMs.connect.p99) : '—', r.latencyMs.connect?.count ? `max ${ms(r.latencyMs.connect.max)}` : ''),
    tile('start lag p50', ms(r.latencyMs.startLag?.p50 ?? 0), r.pace ? (r.pace.keptUp ? 'kept the schedule' : 'fell behind the schedule') : 'generator delay', r.pace && !r.pace.keptUp ? 'warn' : ''),
  ].join('')}</div>`;
}

/** Columns for the charts: seconds without a handshake are gaps (null), not 0 ms. */
function chartData(r: BenchResult): Record<string, unknown> {
  const s = r.series ?? [];
  const kinds = [...new Set(s.flatMap((p) => Object.keys(p.failureKinds ?? {})))];
  let planned = 0;
  const hasPlan = s.some((p) => p.planned !== undefined) && (r.stages ?? []).some((x) => x.rate !== undefined);
  return {
    t: s.map((p) => p.t),
    open: s.map((p) => p.open),
    planned: hasPlan ? s.map((p) => (planned += p.planned ?? 0)) : null,
    attempts: s.map((p) => p.attempts),
    successes: s.map((p) => p.successes),
    failures: s.map((p) => p.failures),
    p50: s.map((p) => (p.successes > 0 ? p.handshakeP50 : null)),
    p99: s.map((p) => (p.successes > 0 ? p.handshakeP99 : null)),
    kinds,
    byKind: kinds.map((k) => s.map((p) => p.failureKinds?.[k] ?? 0)),
    lagMean: s.some((p) => p.lagMeanMs !== undefined) ? s.map((p) => p.lagMeanMs ?? null) : null,
    lagMax: s.some((p) => p.lagMaxMs !== undefined) ? s.map((p) => p.lagMaxMs ?? null) : null,
  };
}

/**
 * One self-contained HTML file (uPlot and its CSS inlined, no network) with what the terminal
 * shows and more: headline tiles, the diagnosis with its evidence and fixes, charts over time
 * (open, rates, failure kinds, handshake latency, start lag), latency per phase, failures, the
 * host-wide kernel counters, socket states, fds and the run's settings.
 */
export function renderReport(r: BenchResult): string {
  const { js, css } = uplotAssets();
  const data = chartData(r);
  const thresholdRows = (r.thresholds ?? []).map((t) => `<li class="${t.ok ? 'ok' : 'bad'}">${t.ok ? 'ok' : 'BROKEN'}: <code>${h(t.expression)}</code> (actual ${num(t.actual)})</li>`).join('');
  const pace = r.pace && !r.pace.keptUp ? `<div class="warnbox"><b>Generator pace:</b> ${h(r.pace.note)}</div>` : '';
  const charts = ['open', 'rates', (data.kinds as string[]).length ? 'kinds' : '', 'latency', data.lagMean ? 'lag' : ''].filter(Boolean);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>floodgate bench — ${h(r.target?.url)}</title>
<style>${css}${REPORT_CSS}</style></head>
<body><main>
<h1>floodgate bench</h1>
<div class="sub"><code>${h(r.target?.url)}</code> · started ${h(r.startedAt)} · ${h((Number(r.durationMs) / 1000).toFixed(1))} s · ${r.plan?.inProcess ? 'one process' : `${num(r.plan?.workers)} worker process(es)`}${r.parts ? ` on ${r.parts.length} machines (merged)` : ''}${r.segment ? ` · segment ${r.segment.index}/${r.segment.count} on ${h(r.machine?.label ?? '')}` : ''}</div>
${tiles(r)}
${r.exit ? `<p class="note">Exit code ${h(r.exit.code)}: ${h(r.exit.reason)}.</p>` : ''}
${pace}
${diagnosisHtml(r)}
${thresholdRows ? `<h2>Thresholds</h2><ul>${thresholdRows}</ul>` : ''}
<h2>Over time</h2>
<p class="note">One point per second. Hover a chart for the values at that second; legends show the last value otherwise.</p>
<div class="grid2">${charts.map((c) => `<div id="${c}" class="chart"></div>`).join('')}</div>
<h2>Latency per phase</h2>
${latencyTable(r)}
<h2>Failures</h2>${renderFailureTable(r.failures ?? [], r.totals.attempts)}
${r.parts ? renderMachines(r.parts) : ''}
${evidenceHtml(r)}
${settingsHtml(r)}
</main>
<script>${js}</script>
<script>${CHART_JS}
const d = ${scriptJson(data)};
const pal = ${scriptJson(PALETTE)};
window.charts = [
  fgChart('open', 'Open connections', [{ label: 'open', stroke: '#0969da', fill: 'rgba(9,105,218,.08)' }, ...(d.planned ? [{ label: 'planned starts (cumulative)', stroke: '#8c959f', dash: [4, 4] }] : [])], [d.t, d.open, ...(d.planned ? [d.planned] : [])], { y: 'connections' }),
  fgChart('rates', 'Attempts, successes and failures per second', [{ label: 'attempts', stroke: '#57606a' }, { label: 'successes', stroke: '#1a7f37' }, { label: 'failures', stroke: '#cf222e' }], [d.t, d.attempts, d.successes, d.failures], { y: 'per second' }),
  ...(d.kinds.length ? [fgChart('kinds', 'Failures per second by kind', d.kinds.map((k, i) => ({ label: k, stroke: pal[i % pal.length] })), [d.t, ...d.byKind], { y: 'per second' })] : []),
  fgChart('latency', 'Handshake latency of the handshakes completed in each second', [{ label: 'p50', stroke: '#8250df' }, { label: 'p99', stroke: '#bc4c00' }], [d.t, d.p50, d.p99], { y: 'ms' }),
  ...(d.lagMean ? [fgChart('lag', 'Start lag (generator behind its plan)', [{ label: 'mean', stroke: '#0969da' }, { label: 'max', stroke: '#9a6700' }], [d.t, d.lagMean, d.lagMax], { y: 'ms' })] : []),
];
</script>
</body></html>
`;
}
