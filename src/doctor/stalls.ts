import type { RunEvidence } from './run-evidence.js';

/** A stretch of the run in which attempts waited and not one completed (seconds from the start). */
export interface Stall {
  fromS: number;
  toS: number;
}

/** Shortest stretch that counts: one quiet interval is normal jitter on a busy machine. */
const MIN_STALL_S = 2;

/**
 * Finds the stretches of a per-interval series in which attempts were in flight (started, not yet
 * answered or failed) and none completed, and after which completions resumed. A server whose
 * event loop is blocked looks like this: the kernel keeps completing TCP handshakes into the accept
 * queue, nothing answers, then a burst of answers when the loop runs again.
 */
export function findStalls(series: NonNullable<RunEvidence['series']>): Stall[] {
  const out: Stall[] = [];
  let pending = 0;
  let prevT = 0;
  let start: number | undefined;
  for (const p of series) {
    const from = prevT;
    prevT = p.t;
    const waiting = pending + p.attempts > 0;
    const completed = p.successes + p.failures > 0;
    pending += p.attempts - p.successes - p.failures;
    if (!completed && waiting) {
      start ??= from;
      continue;
    }
    if (start !== undefined && completed && from - start >= MIN_STALL_S - 1e-9) out.push({ fromS: start, toS: from });
    start = undefined;
  }
  return out;
}

/** "stalls at t=1–4 s, 5–8 s; completions per second: 12 0 0 0 15 0 0 0 14 …" (first 30 intervals). */
export function renderStalls(stalls: Stall[], series: NonNullable<RunEvidence['series']>): string {
  const at = stalls.map((s) => `${s.fromS.toFixed(0)}–${s.toS.toFixed(0)} s`).join(', ');
  const per = series.slice(0, 30).map((p) => p.successes + p.failures).join(' ');
  return `no completion at t=${at} with attempts waiting; completions per interval: ${per}${series.length > 30 ? ' …' : ''}`;
}
