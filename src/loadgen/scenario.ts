import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FloodgateError } from '../errors.js';
import { parseDuration, parseRate } from './durations.js';
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
  // Field names in errors are the ones written in the file (`stages[0].rate`), with the file's name.
  const inFile = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof FloodgateError) throw new FloodgateError(err.code, `${err.message} in scenario ${path}`);
      throw err;
    }
  };
  const stages: Stage[] = stagesRaw.map((s: Record<string, unknown>, i: number) => inFile(() => ({
    connections: countField(s.connections, `stages[${i}].connections`),
    rate: s.rate === undefined ? undefined : parseRate(s.rate, `stages[${i}].rate`),
    rampTo: s.rampTo === undefined ? undefined : parseRate(s.rampTo, `stages[${i}].rampTo`),
    durationMs: parseDuration(s.duration ?? s.durationMs ?? 0, `stages[${i}].duration`),
  })));
  const { stages: _s, ...rest } = o;
  const out: Partial<BenchOptions> = { ...(rest as Partial<BenchOptions>), stages };
  if (o.publishRate !== undefined) out.publishRate = inFile(() => parseRate(o.publishRate, 'publishRate'));
  if (o.maxDuration !== undefined) {
    out.maxDurationMs = inFile(() => parseDuration(o.maxDuration, 'maxDuration'));
    delete (out as Record<string, unknown>).maxDuration;
  }
  return out;
}

/** `5000`, `"5,000"` or `"5_000"`; anything else is left for the stage check to name. */
function countField(v: unknown, field: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*[\d_,]+\s*$/.test(v)) return Number(v.replace(/[_,\s]/g, ''));
  throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${field}\` to be an integer from 1 to 10,000,000, got \`${String(v)}\``);
}
