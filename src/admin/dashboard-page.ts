import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** uPlot's script and stylesheet, read once at startup and inlined: the page needs no CDN. */
export interface ChartAssets {
  js: string;
  css: string;
  /** Why the charts are missing, when uplot could not be read (numbers still update). */
  missing?: string;
}

export function loadChartAssets(): ChartAssets {
  try {
    const require = createRequire(import.meta.url);
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    return { js: js.replace(/<\/script/gi, '<\\/script'), css };
  } catch (err) {
    return { js: '', css: '', missing: `uplot not found (${(err as Error).message.split('\n')[0]})` };
  }
}

/** Content-Security-Policy of the page: nothing from elsewhere, only its own event stream. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE = `
:root{--bg:#0f1419;--panel:#172029;--fg:#dce3ea;--dim:#8a98a6;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--acc:#58a6ff}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:10px 16px;border-bottom:1px solid #263340;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
h1{font-size:18px;margin:0}h2{font-size:13px;margin:0 0 6px;color:var(--dim);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
.note{color:var(--dim);font-size:12px}#live{font-size:12px;padding:2px 8px;border-radius:10px;background:#263340}
#live.on{background:#1b4721;color:#aff5b4}#live.off{background:#5a1e1e;color:#ffd1cf}
main{padding:12px 16px;display:grid;gap:12px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px}
.tile{background:var(--panel);border-radius:6px;padding:8px 10px}.tile .k{color:var(--dim);font-size:12px}
.tile .v{font-size:22px;font-variant-numeric:tabular-nums}.tile .s{color:var(--dim);font-size:12px}
.row{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
.panel{background:var(--panel);border-radius:6px;padding:10px}
.bar{position:relative;height:16px;background:#263340;border-radius:3px;overflow:hidden;margin:4px 0 2px}
.bar i{display:block;height:100%;background:var(--ok)}.bar.warn i{background:var(--warn)}.bar.bad i{background:var(--bad)}
.bar b{position:absolute;top:0;bottom:0;width:2px;background:#fff8}.bar b.m70{left:70%}.bar b.m90{left:90%;background:#f85149cc}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}td,th{padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}
th{color:var(--dim);font-weight:500}pre{margin:0;white-space:pre-wrap;font-size:12px;color:#c9d1d9}
.u-legend{font-size:12px;color:var(--fg);text-align:left}.chart{min-height:220px}
.u-legend th,.u-legend td{padding:0 2px!important;text-align:left}.u-legend .u-series{padding-right:10px}
.u-legend .u-value{font-variant-numeric:tabular-nums;color:var(--fg)}.u-legend .u-series:first-child .u-label{color:var(--dim);font-weight:400}
`;

// Runs in the browser. Plain ES2019, no framework: one EventSource, four uPlot charts, a few tiles.
const CLIENT = String.raw`
(function(){
  var $ = function(id){ return document.getElementById(id); };
  var set = function(id, text){ var e = $(id); if (e) e.textContent = text; };
  var num = function(n){ return n == null ? '–' : n >= 100 || n === Math.round(n) ? Math.round(n).toLocaleString('en') : n.toFixed(1); };
  var mib = function(b){ return (b / 1048576).toFixed(b < 1048576 * 100 ? 1 : 0) + ' MiB'; };
  var token = new URLSearchParams(location.search).get('token');
  var samples = [];
  var MAX = 600; // the gateway's ring: 10 minutes at one sample a second
  var charts = {};
  // one name per refusal reason, the same in the chart legend, the table, /stats and the gateway log
  var REASONS = ['over_capacity','admission_timeout','accept_timeout','fd_budget','shutting_down','unauthorized','forbidden_origin'];
  var REASON_NAME = { over_capacity: '503 over_capacity', admission_timeout: '503 admission_timeout', accept_timeout: '503 accept_timeout', fd_budget: '503 fd_budget',
    shutting_down: '503 shutting_down', unauthorized: '401 unauthorized', forbidden_origin: '403 forbidden_origin' };
  var state = { samples: samples, charts: charts, intro: null, updates: 0 };
  window.floodgateDashboard = state;

  var defs = {
    conn: { title: 'connections', series: [
      ['open', '#58a6ff', function(s){ return s.connections.current; }],
      ['cap', '#f85149', function(s){ return s.connections.cap; }, [6,4]],
      ['handshaking', '#d2a8ff', function(s){ return s.connections.handshaking; }],
      ['waiting for a slot', '#d29922', function(s){ return s.connections.waiting; }]
    ]},
    adm: { title: 'per second', series: [
      ['admitted', '#3fb950', function(s){ return s.rates.admitted; }],
      ['admitted after a wait', '#d29922', function(s){ return s.rates.admittedAfterWait; }],
      [REASON_NAME.over_capacity, '#f85149', function(s){ return s.rates.rejected.over_capacity; }],
      [REASON_NAME.admission_timeout, '#ff7b72', function(s){ return s.rates.rejected.admission_timeout; }],
      [REASON_NAME.accept_timeout, '#db6d28', function(s){ return s.rates.rejected.accept_timeout; }],
      [REASON_NAME.fd_budget, '#e3b341', function(s){ return s.rates.rejected.fd_budget; }],
      [REASON_NAME.shutting_down, '#ffa198', function(s){ return s.rates.rejected.shutting_down; }],
      [REASON_NAME.unauthorized, '#a371f7', function(s){ return s.rates.rejected.unauthorized; }],
      [REASON_NAME.forbidden_origin, '#8b949e', function(s){ return s.rates.rejected.forbidden_origin; }]
    ]},
    msg: { title: 'per second', series: [
      ['in', '#58a6ff', function(s){ return s.rates.messagesIn; }],
      ['out', '#3fb950', function(s){ return s.rates.messagesOut; }],
      ['rate-limited', '#d29922', function(s){ return s.rates.rateLimited; }],
      ['replay requests', '#d2a8ff', function(s){ return s.rates.replayRequests; }],
      ['presence asks', '#79c0ff', function(s){ return s.rates.presenceRequests; }],
      ['slow consumers closed', '#f85149', function(s){ return s.rates.slowConsumersClosed; }]
    ]},
    res: { title: '% of limit', pct: true, series: [
      ['RSS', '#58a6ff', function(s){ return s.memory.limit ? 100 * s.memory.rss / s.memory.limit : null; }],
      ['fds', '#3fb950', function(s){ return s.fds.limit && s.fds.open != null ? 100 * s.fds.open / s.fds.limit : null; }],
      ['70%', '#d29922', function(){ return 70; }, [4,4]],
      ['90%', '#f85149', function(){ return 90; }, [4,4]]
    ]}
  };

  function dataOf(key){
    var d = defs[key], out = [samples.map(function(s){ return s.t; })];
    d.series.forEach(function(sr){ out.push(samples.map(sr[2])); });
    return out;
  }

  function makeCharts(){
    if (typeof uPlot === 'undefined') return;
    Object.keys(defs).forEach(function(key){
      var d = defs[key], el = $('chart-' + key);
      var opts = {
        width: Math.max(300, el.clientWidth), height: 200,
        scales: { x: { time: true }, y: d.pct ? { range: [0, 100] } : { range: function(u, min, max){ return [0, Math.max(1, max * 1.1)]; } } },
        axes: [ { stroke: '#8a98a6', grid: { stroke: '#263340' } }, { stroke: '#8a98a6', grid: { stroke: '#263340' }, label: d.title } ],
        // legends: the latest value when the pointer is elsewhere, the value under it on hover (never "--")
        series: [{ label: 'at', value: function(u, v, si, idx){ return idx == null ? 'now' : new Date(v * 1000).toLocaleTimeString(); } }]
          .concat(d.series.map(function(sr){ return { label: sr[0], stroke: sr[1], width: 1.5, dash: sr[3], points: { show: false },
            value: function(u, v, si, idx){ var x = idx == null ? last(u.data[si]) : v; return x == null ? '' : d.pct ? x.toFixed(1) + '%' : num(x); } }; }))
      };
      charts[key] = new uPlot(opts, dataOf(key), el);
    });
    window.addEventListener('resize', function(){
      Object.keys(charts).forEach(function(k){ charts[k].setSize({ width: Math.max(300, $('chart-' + k).clientWidth), height: 200 }); });
    });
  }

  function last(a){ for (var i = a.length - 1; i >= 0; i--) if (a[i] != null) return a[i]; return null; }

  function workers(m){
    var el = $('workers'); if (!el) return;
    if (!m) { el.hidden = true; return; }
    el.hidden = false;
    set('v-workers', m.answered + ' of ' + m.expected + ' answered' + (m.missing.length ? '; missing: ' + m.missing.map(function(i){ return i + 1; }).join(', ') : ''));
    var rows = m.perWorker.map(function(w){
      return '<tr><td>' + (w.index + 1) + '</td><td>' + w.pid + '</td><td>' + num(w.connections) + '</td><td>' + num(w.peak) + '</td><td>' + num(w.cap) +
        '</td><td>' + mib(w.rss) + '</td><td>' + (w.fds == null ? '–' : num(w.fds)) + '</td></tr>';
    }).join('');
    $('worker-rows').innerHTML = rows; // numbers only, built here
  }

  function bar(id, used, limit){
    var el = $(id); if (!el) return;
    var pct = limit ? Math.min(100, 100 * used / limit) : 0;
    el.firstChild.style.width = pct.toFixed(1) + '%';
    el.className = 'bar' + (pct >= 90 ? ' bad' : pct >= 70 ? ' warn' : '');
    el.dataset.pct = pct.toFixed(1);
  }

  function render(s){
    var c = s.connections;
    set('v-node', s.node + ' (pid ' + s.pid + ')');
    set('v-uptime', 'up ' + s.uptimeSeconds + ' s');
    set('v-conn', num(c.current) + ' / ' + num(c.cap));
    set('v-conn-current', String(c.current));
    set('v-cap', String(c.cap));
    set('v-cap-origin', 'cap from ' + ({ explicit: 'maxConnections (explicit)', memory: 'the memory limit', fds: 'the fd limit' }[c.capOrigin] || c.capOrigin));
    set('v-peak', 'peak open ' + num(c.peak));
    set('v-handshaking', String(c.handshaking));
    set('v-waiting', String(c.waiting));
    set('v-accepting', 'accept queue ' + c.accepting);
    set('v-admitted-rate', num(s.rates.admitted));
    set('v-admitted-total', num(s.totals.admitted) + ' total, ' + num(s.totals.admittedAfterWait) + ' after a wait');
    set('v-rejected-rate', num(s.rates.rejectedAll));
    set('v-rejected-total', String(s.totals.rejectedAll));
    set('v-in-rate', num(s.rates.messagesIn));
    set('v-out-rate', num(s.rates.messagesOut));
    set('v-msg-total', num(s.totals.messagesIn) + ' in, ' + num(s.totals.messagesOut) + ' out');
    set('v-slow', String(s.totals.slowConsumersClosed));
    set('v-ratelimited', String(s.totals.rateLimited));
    set('v-ratelimited-rate', num(s.rates.rateLimited) + '/s');
    set('v-replay', String(s.totals.replayRequests));
    set('v-replay-rate', num(s.rates.replayRequests) + '/s');
    set('v-presence', s.presenceEntries == null ? '–' : num(s.presenceEntries));
    set('v-presence-asks', num(s.totals.presenceRequests) + ' asks (' + num(s.totals.presenceFailures) + ' failed), ' + num(s.rates.presenceRequests) + '/s');
    REASONS.forEach(function(r){ set('r-' + r + '-rate', num(s.rates.rejected[r])); set('r-' + r + '-total', String(s.totals.rejected[r])); });
    set('v-rss', mib(s.memory.rss) + ' of ' + mib(s.memory.limit) + ' (' + s.memory.limitSource + ')');
    bar('b-rss', s.memory.rss, s.memory.limit);
    set('v-fds', s.fds.open == null ? 'unknown' : s.fds.open + ' of ' + (s.fds.limit == null ? 'unknown' : s.fds.limit));
    bar('b-fds', s.fds.open || 0, s.fds.limit || 0);
    workers(s.machine);
  }

  function push(list){
    list.forEach(function(s){ samples.push(s); });
    while (samples.length > MAX) samples.shift();
    var last = samples[samples.length - 1];
    if (last) render(last);
    Object.keys(charts).forEach(function(k){ charts[k].setData(dataOf(k)); });
    state.updates++;
  }

  makeCharts();
  var es = new EventSource(location.pathname.replace(/\/?$/, '/events') + (token ? '?token=' + encodeURIComponent(token) : ''));
  es.addEventListener('open', function(){ $('live').className = 'on'; $('live').textContent = 'live'; });
  es.addEventListener('error', function(){ $('live').className = 'off'; $('live').textContent = 'reconnecting…'; });
  es.addEventListener('intro', function(ev){
    var intro = JSON.parse(ev.data);
    state.intro = intro;
    set('v-scope', intro.scope);
    set('v-settings', intro.settingsText);
    set('v-presence-where', intro.report && intro.report.presence ? intro.report.presence.text : '');
    samples.length = 0;
  });
  es.addEventListener('history', function(ev){ push(JSON.parse(ev.data)); });
  es.addEventListener('message', function(ev){ push([JSON.parse(ev.data)]); });
})();
`;

function tile(label: string, valueId: string, subId?: string): string {
  return `<div class="tile"><div class="k">${label}</div><div class="v" id="${valueId}">–</div>${subId ? `<div class="s" id="${subId}"></div>` : ''}</div>`;
}

/** Reason → the one name the legend, the table, /stats and the log use, and what it means. */
const REASON_ROWS: [string, string, string][] = [
  ['over_capacity', '503 over_capacity', 'all slots taken, the admission queue full'],
  ['admission_timeout', '503 admission_timeout', 'no slot freed within admissionTimeout'],
  ['accept_timeout', '503 accept_timeout', 'not even read in time: the server is behind'],
  ['fd_budget', '503 fd_budget', 'every file descriptor for clients held by open sockets'],
  ['shutting_down', '503 shutting_down', 'the server is stopping'],
  ['unauthorized', '401 unauthorized', 'no or bad token'],
  ['forbidden_origin', '403 forbidden_origin', 'Origin not allowed'],
];

/** The whole page, built once when the dashboard is installed. */
export function renderDashboardPage(assets: ChartAssets): string {
  const reasons = REASON_ROWS.map(([r, label, meaning]) => `<tr><td>${label} <span class="note">${meaning}</span></td><td id="r-${r}-rate">–</td><td id="r-${r}-total">–</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Floodgate dashboard</title>
<style>${assets.css}</style><style>${STYLE}</style>
</head><body>
<header><h1>Floodgate</h1><span>node <b id="v-node">–</b></span><span class="note" id="v-uptime"></span><span id="live">connecting…</span>
<span class="note" id="v-scope"></span>${assets.missing ? `<span class="note">charts off: ${assets.missing.replace(/[<>&]/g, '')}</span>` : ''}</header>
<main>
<section class="tiles">
${tile('connections open / cap', 'v-conn', 'v-cap-origin')}
<div hidden><span id="v-conn-current"></span><span id="v-cap"></span></div>
${tile('handshakes in flight', 'v-handshaking', 'v-accepting')}
${tile('waiting for a slot', 'v-waiting', 'v-peak')}
${tile('admitted / s', 'v-admitted-rate', 'v-admitted-total')}
${tile('rejected / s', 'v-rejected-rate')}
${tile('messages in / s', 'v-in-rate', 'v-msg-total')}
${tile('messages out / s', 'v-out-rate')}
${tile('slow consumers closed', 'v-slow')}
${tile('rate-limited messages', 'v-ratelimited', 'v-ratelimited-rate')}
${tile('replay requests', 'v-replay', 'v-replay-rate')}
<div class="tile"><div class="k">presence entries</div><div class="v" id="v-presence">–</div><div class="s" id="v-presence-asks"></div><div class="s" id="v-presence-where"></div></div>
</section>
<section class="row">
<div class="panel"><h2>Connections vs cap</h2><div class="chart" id="chart-conn"></div></div>
<div class="panel"><h2>Admissions, waits and rejections</h2><div class="chart" id="chart-adm"></div>
<table><tr><th>rejected, by reason</th><th>/ s</th><th>total <span id="v-rejected-total"></span></th></tr>${reasons}</table></div>
</section>
<section class="row">
<div class="panel"><h2>Messages</h2><div class="chart" id="chart-msg"></div></div>
<div class="panel"><h2>Process vs limits (marks at 70% and 90%)</h2><div class="chart" id="chart-res"></div>
<div>RSS <span id="v-rss"></span><div class="bar" id="b-rss"><i></i><b class="m70"></b><b class="m90"></b></div></div>
<div>fds <span id="v-fds"></span><div class="bar" id="b-fds"><i></i><b class="m70"></b><b class="m90"></b></div></div></div>
</section>
<section class="panel" id="workers" hidden><h2>Workers <span class="note" id="v-workers"></span></h2>
<table><tr><th>worker</th><th>pid</th><th>open</th><th>peak</th><th>cap</th><th>RSS</th><th>fds</th></tr><tbody id="worker-rows"></tbody></table></section>
<section class="panel"><h2>Effective settings (as printed at start)</h2><pre id="v-settings"></pre></section>
</main>
<script>${assets.js}</script>
<script>${CLIENT}</script>
</body></html>`;
}
