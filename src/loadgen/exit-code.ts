import type { BenchResult } from './types.js';

/** How a run ends for CI: the exit code and the sentence that says why (printed in the summary, kept in `--json`). */
export interface BenchExit {
  code: 0 | 1;
  reason: string;
}

/** The rule, as the summary and docs/bench.md state it. */
export const EXIT_RULE = 'exit 1 when any connection failed, unless --threshold expressions are given (then they decide); 2 for usage errors and pre-flight refusals; 0 otherwise';

/**
 * A run with failures is a failed run by default (a CI job must not pass at 0 % success); a user
 * who accepts some failures says how many with thresholds, and then only the thresholds count.
 */
export function benchExit(r: Pick<BenchResult, 'totals' | 'thresholds'>): BenchExit {
  if (r.thresholds.length > 0) {
    const broken = r.thresholds.filter((t) => !t.ok);
    return broken.length > 0
      ? { code: 1, reason: `${broken.length} of ${r.thresholds.length} threshold(s) broken (${broken.map((t) => t.expression).join(', ')})` }
      : { code: 0, reason: `all ${r.thresholds.length} threshold(s) held` };
  }
  const f = r.totals.failures;
  return f > 0
    ? { code: 1, reason: `${f.toLocaleString('en-US')} of ${r.totals.attempts.toLocaleString('en-US')} connections failed` }
    : { code: 0, reason: 'no connection failed' };
}
