import { FloodgateError } from '../errors.js';

/** `500ms`, `30s`, `2m`, `1h` or a number of milliseconds. */
export function parseDuration(v: unknown, field: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v) : null;
  if (!m) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${field}\` to be a duration like 500ms, 30s, 2m or 1h, got \`${String(v)}\``);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'];
  return Number(m[1]) * mult;
}

/** `500`, `500/s`, `30/m` (or a number) → per second. Scenario files and flags take the same forms. */
export function parseRate(v: unknown, field: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m|min))?\s*$/.exec(v) : null;
  if (!m || Number(m[1]) <= 0) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${field}\` to be a positive rate like 500/s or 30/m, got \`${String(v)}\``);
  return m[2] === undefined || m[2] === 's' ? Number(m[1]) : Number(m[1]) / 60;
}
