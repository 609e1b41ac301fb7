import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FloodgateError } from '../errors.js';
import { parseDuration } from './durations.js';
import type { BenchOptions, Stage } from './types.js';

/**
 * Reads a JSON or YAML scenario: `{ url?, stages: [{ connections, rate?, rampTo?, duration }], ...options }`.
 * Durations accept `30s`, `2m`, `500ms` or milliseconds.
 */
export function loadScenario(path: string): Partial<BenchOptions> {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`scenario\` to be a readable JSON or YAML file, got \`${path}\` (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`scenario\` ${path} to hold an object with \`stages\``);
  const o = raw as Record<string, unknown>;
  const stagesRaw = o.stages;
  if (!Array.isArray(stagesRaw) || stagesRaw.length === 0) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`stages\` in ${path} to be a non-empty list, got \`${JSON.stringify(stagesRaw)}\``);
  const stages: Stage[] = stagesRaw.map((s: Record<string, unknown>, i: number) => ({
    connections: Number(s.connections),
    rate: s.rate === undefined ? undefined : Number(s.rate),
    rampTo: s.rampTo === undefined ? undefined : Number(s.rampTo),
    durationMs: parseDuration(s.duration ?? s.durationMs ?? 0, `stages[${i}].duration`),
  }));
  const { stages: _s, ...rest } = o;
  return { ...(rest as Partial<BenchOptions>), stages };
}
