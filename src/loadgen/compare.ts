import { readFileSync } from 'node:fs';
import { FloodgateError } from '../errors.js';
import type { BenchResult, SeriesPoint } from './types.js';

export interface ComparisonRow {
  metric: string;
  a: number;
  b: number;
  delta: number;
  /** b / a (NaN when a is 0). */
  ratio: number;
  /** Which run did better on this metric; null when the metric has no better direction (attempts) or is not the runs' own (host-wide counters). */
  better: 'a' | 'b' | 'same' | null;
  /** Kernel counter rows: `host-wide` when either run counted the whole host's traffic (not ranked), `netns` when both had a namespace of their own. */
  scope?: 'host-wide' | 'netns';
}

/** Per-second rates of a run's series (intervals may be shorter than 1 s), time in seconds from the run's start. */
export interface SeriesRates {
  t: number[];
  open: number[];
  attempts: number[];
  successes: number[];
  failures: number[];
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

export function seriesRates(series: SeriesPoint[]): SeriesRates {
  const out: SeriesRates = { t: [], open: [], attempts: [], successes: [], failures: [] };
  let prev = 0;
  for (const p of series) {
    const span = p.t - prev > 0 ? p.t - prev : 1;
    prev = p.t;
    out.t.push(p.t);
    out.open.push(p.open);
    out.attempts.push(round3(p.attempts / span));
    out.successes.push(round3(p.successes / span));
    out.failures.push(round3(p.failures / span));
  }
  return out;
}

/**
 * Completed handshakes per second: the mean from the run's start to the end of the last interval
 * in which one completed, and the best single interval. Resolution is one series interval (1 s by default).
 */
export function handshakeRates(series: SeriesPoint[]): { mean: number; peak: number } {
  const rates = seriesRates(series);
  let total = 0;
  let until = 0;
  series.forEach((p, i) => {
    total += p.successes;
    if (p.successes > 0) until = rates.t[i];
  });
  return { mean: until > 0 ? round3(total / until) : 0, peak: Math.max(0, ...rates.successes) };
}

export function readResult(path: string): BenchResult {
  let r: BenchResult;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as BenchResult;
  } catch (err) {
    throw new FloodgateError('FG_ERR_RUN_FILE', `Expected \`${path}\` to be a bench --json result file (${(err as Error).message})`);
  }
  if (r?.schema !== 'floodgate.bench/1' || !r.totals || !r.latencyMs) throw new FloodgateError('FG_ERR_RUN_FILE', `Expected \`${path}\` to hold a floodgate.bench/1 result, got schema \`${String(r?.schema)}\``);
  return r;
}

/** Key metrics of two runs side by side (e.g. before and after tuning). */
export function compareResults(a: BenchResult, b: BenchResult): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  /** `up`: higher is better (1), lower is better (-1), no direction (0). */
  const add = (metric: string, x: number, y: number, up: 1 | -1 | 0): void => {
    const better = up === 0 ? null : x === y ? 'same' : (y > x) === (up === 1) ? 'b' : 'a';
    rows.push({ metric, a: x, b: y, delta: round3(y - x), ratio: x === 0 ? NaN : round3(y / x), better });
  };
  const hsA = handshakeRates(a.series ?? []);
  const hsB = handshakeRates(b.series ?? []);
  add('attempts', a.totals.attempts, b.totals.attempts, 0);
  add('successes', a.totals.successes, b.totals.successes, 1);
  add('success_rate', a.totals.successRate, b.totals.successRate, 1);
  add('failures', a.totals.failures, b.totals.failures, -1);
  add('peak_open', a.totals.peakOpen, b.totals.peakOpen, 1);
  add('handshakes_per_s', hsA.mean, hsB.mean, 1);
  add('peak_handshakes_per_s', hsA.peak, hsB.peak, 1);
  for (const l of ['connect', 'handshake', 'firstMessage', 'message'] as const) {
    // A run without samples has no latency to be better at.
    const up = a.latencyMs[l].count > 0 && b.latencyMs[l].count > 0 ? -1 : 0;
    for (const s of ['p50', 'p90', 'p99', 'max'] as const) add(`${s}_${l}_ms`, a.latencyMs[l][s], b.latencyMs[l][s], up);
  }
  const kinds = new Set([...a.failures.map((f) => f.kind), ...b.failures.map((f) => f.kind)]);
  for (const k of kinds) add(`failures.${k}`, a.failures.find((f) => f.kind === k)?.count ?? 0, b.failures.find((f) => f.kind === k)?.count ?? 0, -1);
  // Host-wide counters count every process on the machine: shown, never used to rank the runs.
  const own = a.evidence?.kernel?.scope === 'netns' && b.evidence?.kernel?.scope === 'netns';
  for (const k of ['TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPReqQFullDoCookies', 'Tcp.EstabResets']) {
    add(`kernel.${k}`, a.evidence?.kernel?.delta?.[k] ?? 0, b.evidence?.kernel?.delta?.[k] ?? 0, own ? -1 : 0);
    rows[rows.length - 1].scope = own ? 'netns' : 'host-wide';
  }
  return rows;
}

/** Rows worth showing: a metric that is 0 in both runs says nothing about the difference. */
export const shownRows = (rows: ComparisonRow[]): ComparisonRow[] => rows.filter((r) => r.a !== 0 || r.b !== 0);

/**
 * Reasons the two runs may not be comparable: another target, other stages (connections, rates,
 * holds) or other settings. Printed above the table and in the HTML report.
 */
export function compareWarnings(a: BenchResult, b: BenchResult): string[] {
  const out: string[] = [];
  if (a.target?.url !== b.target?.url) out.push(`A and B hit different targets: ${String(a.target?.url)} vs ${String(b.target?.url)}`);
  const stages = (r: BenchResult): string => JSON.stringify((r.stages ?? []).map((x) => [x.connections, x.rate ?? null, x.rampTo ?? null, x.durationMs]));
  const show = (r: BenchResult): string => (r.stages ?? []).map((x) => `${x.connections} ${x.rate === undefined ? 'burst' : `at ${x.rate}/s${x.rampTo !== undefined ? `→${x.rampTo}/s` : ''}`}, hold ${x.durationMs} ms`).join('; ');
  if (stages(a) !== stages(b)) out.push(`A and B used different scenarios: ${show(a)} vs ${show(b)}`);
  const opt = (r: BenchResult): string => JSON.stringify([r.settings?.subscribe ?? null, r.settings?.publishRate ?? null, r.settings?.teardown ?? null, r.plan?.workers ?? null, r.plan?.sourceIps?.length ?? 0]);
  if (a.settings && b.settings && opt(a) !== opt(b)) out.push('A and B differ in other settings (workers, source addresses, teardown, subscribe or publish rate): see each run\'s settings');
  return out;
}

/** The terminal table: short column heads (A, B) with the file names above, so long paths do not push the columns out. */
export function renderComparison(rows: ComparisonRow[], nameA = 'a', nameB = 'b', warnings: string[] = []): string {
  const shown = shownRows(rows);
  const cells = shown.map((r) => [
    r.metric, String(r.a), String(r.b), (r.delta > 0 ? '+' : '') + String(r.delta), Number.isNaN(r.ratio) ? '—' : `${r.ratio}×`,
    r.better === 'a' ? 'A' : r.better === 'b' ? 'B' : r.scope === 'host-wide' ? '(host-wide: not ranked)' : r.better ?? '',
  ]);
  const head = ['metric', 'A', 'B', 'delta', 'ratio', 'better'];
  const width = head.map((hd, i) => Math.max(hd.length, ...cells.map((c) => c[i].length)));
  // text left, numbers right
  const line = (c: string[]): string => c.map((v, i) => (i === 0 || i === 5 ? v.padEnd(width[i]) : v.padStart(width[i]))).join('  ').trimEnd();
  const out = [`A: ${nameA}`, `B: ${nameB}`];
  for (const w of warnings) out.push(`warning: ${w}`);
  out.push('', line(head), ...cells.map(line));
  return out.join('\n');
}
