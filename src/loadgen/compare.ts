import { readFileSync } from 'node:fs';
import { FloodgateError } from '../errors.js';
import type { BenchResult } from './types.js';

export interface ComparisonRow {
  metric: string;
  a: number;
  b: number;
  delta: number;
  /** b / a (NaN when a is 0). */
  ratio: number;
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
  const add = (metric: string, x: number, y: number): void => {
    rows.push({ metric, a: x, b: y, delta: Math.round((y - x) * 1000) / 1000, ratio: x === 0 ? NaN : Math.round((y / x) * 1000) / 1000 });
  };
  add('attempts', a.totals.attempts, b.totals.attempts);
  add('successes', a.totals.successes, b.totals.successes);
  add('success_rate', a.totals.successRate, b.totals.successRate);
  add('failures', a.totals.failures, b.totals.failures);
  add('peak_open', a.totals.peakOpen, b.totals.peakOpen);
  for (const l of ['connect', 'handshake', 'firstMessage', 'message'] as const) {
    for (const s of ['p50', 'p99', 'max'] as const) add(`${s}_${l}_ms`, a.latencyMs[l][s], b.latencyMs[l][s]);
  }
  const kinds = new Set([...a.failures.map((f) => f.kind), ...b.failures.map((f) => f.kind)]);
  for (const k of kinds) add(`failures.${k}`, a.failures.find((f) => f.kind === k)?.count ?? 0, b.failures.find((f) => f.kind === k)?.count ?? 0);
  for (const k of ['TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPReqQFullDoCookies', 'Tcp.EstabResets']) {
    add(`kernel.${k}`, a.evidence?.kernel?.delta?.[k] ?? 0, b.evidence?.kernel?.delta?.[k] ?? 0);
  }
  return rows;
}

export function renderComparison(rows: ComparisonRow[], nameA = 'a', nameB = 'b'): string {
  const w = Math.max(...rows.map((r) => r.metric.length), 6);
  const out = [`${'metric'.padEnd(w)}  ${nameA.padStart(12)}  ${nameB.padStart(12)}  ${'delta'.padStart(10)}  ratio`];
  for (const r of rows) {
    if (r.a === 0 && r.b === 0) continue;
    out.push(`${r.metric.padEnd(w)}  ${String(r.a).padStart(12)}  ${String(r.b).padStart(12)}  ${(r.delta > 0 ? '+' : '') + String(r.delta)}`.padEnd(w + 42) + `  ${Number.isNaN(r.ratio) ? '—' : `${r.ratio}×`}`);
  }
  return out.join('\n');
}
