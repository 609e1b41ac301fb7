/**
 * Shared by the run report and the compare report: page CSS and the in-page chart helper. Charts
 * take the width of their container (and follow it on resize); legends show the latest value and,
 * on hover, the value under the cursor (never uPlot's empty `--` boxes).
 */

export const REPORT_CSS = `
:root{--fg:#1f2328;--dim:#59636e;--line:#d1d9e0;--panel:#f6f8fa;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--a:#0969da;--b:#bc4c00}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:var(--fg);background:#fff}
main{max-width:1400px;margin:0 auto;padding:20px 28px 40px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}h3{font-size:14px;margin:14px 0 6px}
.sub{color:var(--dim)}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:14px 0}
.tile{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.tile .k{color:var(--dim);font-size:12px}.tile .v{font-size:22px;font-variant-numeric:tabular-nums}.tile .s{color:var(--dim);font-size:12px}
.tile.bad .v{color:var(--bad)}.tile.ok .v{color:var(--ok)}.tile.warn .v{color:var(--warn)}
table.data{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
table.data td,table.data th{border-bottom:1px solid var(--line);padding:4px 12px 4px 0;text-align:left;vertical-align:top}
table.data th{color:var(--dim);font-weight:600;font-size:12px}table.data td.n,table.data th.n{text-align:right}
.cause{border:1px solid var(--line);border-left:4px solid var(--warn);border-radius:6px;padding:8px 12px;margin:8px 0;background:#fff}
.cause.server{border-left-color:var(--bad)}.cause.generator{border-left-color:var(--a)}
.cause ul{margin:4px 0 4px 18px;padding:0;color:var(--dim);font-size:13px}.fix{margin-top:4px}.fix b{color:var(--ok)}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 7px;border-radius:10px;background:var(--panel);border:1px solid var(--line);margin-right:6px;text-transform:uppercase}
.note{color:var(--dim);font-size:12px}.warnbox{border:1px solid #d4a72c;background:#fff8c5;border-radius:6px;padding:8px 12px;margin:10px 0}
.ok{color:var(--ok)}.bad{color:var(--bad);font-weight:600}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:8px 24px}
.chart{width:100%;min-height:260px;margin:6px 0}
.uplot{font-family:inherit}.u-title{font-size:14px!important;font-weight:600!important;text-align:left!important;padding-left:8px}
.u-legend{font-size:12px;text-align:left;padding-left:8px}.u-legend .u-series{padding:0 10px 0 0}
.u-legend .u-series:first-child .u-label{color:var(--dim);font-weight:400}
.u-legend th,.u-legend td{border:0!important;padding:0 2px!important;background:none}
.u-legend .u-value{font-variant-numeric:tabular-nums;min-width:3em;display:inline-block}
.a{color:var(--a)}.b{color:var(--b)}`;

/**
 * In-page helper: fgChart(elementId, title, series, data, { y }) → uPlot. `null` values are gaps
 * (a second without handshakes has no latency, not 0 ms).
 */
export const CHART_JS = `
const fgFmt = (v) => v == null || Number.isNaN(v) ? '' : Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(Math.round(v * 100) / 100);
const fgLast = (a) => { for (let i = a.length - 1; i >= 0; i--) if (a[i] != null) return a[i]; return null; };
function fgChart(id, title, series, data, o = {}) {
  const el = document.getElementById(id);
  const height = o.height || 250;
  const opts = {
    title, width: Math.max(300, el.clientWidth), height,
    scales: { x: { time: false } },
    axes: [{ label: o.x || 'seconds since start', labelSize: 18, size: 36 }, { label: o.y || '', labelSize: 18, size: 64 }],
    series: [
      { label: 'at', value: (u, v, si, idx) => idx == null ? 'end' : v + ' s' },
      ...series.map((s) => ({ width: 2, points: { show: false }, value: (u, v, si, idx) => fgFmt(idx == null ? fgLast(u.data[si]) : v), ...s })),
    ],
  };
  const u = new uPlot(opts, data, el);
  new ResizeObserver(() => { const w = Math.max(300, el.clientWidth); if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height }); }).observe(el);
  return u;
}`;

export const PALETTE = ['#cf222e', '#bc4c00', '#8250df', '#0969da', '#1a7f37', '#9a6700', '#57606a', '#bf3989'];
