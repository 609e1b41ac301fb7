import { envName, type SettingSpec } from './setting.js';

/**
 * FLOODGATE_* variables the process sets for itself (worker plans, bench workers, the test runner's
 * markers): not settings, never warned about.
 */
const INTERNAL = new Set(['FLOODGATE_WORKER_PLAN', 'FLOODGATE_BENCH_WORKER', 'FLOODGATE_BENCH_WORKER_INDEX', 'FLOODGATE_TEST', 'FLOODGATE_TEST_RUN']);

/**
 * One warning per FLOODGATE_* variable that names no setting (`FLOODGATE_PROT=8080` is otherwise
 * silently ignored and the gateway listens on the default port), with the closest setting's name.
 * A warning, not a refusal: a variable meant for another version or tool must not stop a restart.
 */
export function unknownEnvWarnings(env: Record<string, string | undefined>, specs: readonly SettingSpec[]): string[] {
  const names = specs.map((s) => envName(s.key));
  const known = new Set(names);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('FLOODGATE_') || known.has(name) || INTERNAL.has(name)) continue;
    const near = closest(name, names);
    out.push(`environment variable ${name} is not a setting and is ignored${near ? ` (did you mean ${near}?)` : ''}`);
  }
  return out;
}

/** The candidate within an edit distance of 3 (and under a third of the name), if any. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.min(3, Math.floor(name.length / 3));
  for (const c of candidates) {
    const d = editDistance(name, c, bestD);
    if (d <= bestD && (best === undefined || d < bestD)) [best, bestD] = [c, d];
  }
  return best;
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      rowMin = Math.min(rowMin, row[j]);
    }
    if (rowMin > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length];
}
