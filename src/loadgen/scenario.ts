import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FloodgateError } from '../errors.js';
import { parseDuration, parseRate } from './durations.js';
import type { BenchOptions, Stage } from './types.js';
import { exceedsDepth } from '../protocol/depth.js';

/** Deepest nesting a scenario may have (it needs 3): checked before anything recursive reads it. */
const MAX_SCENARIO_DEPTH = 64;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[^\r\n\0]*$/;

/**
 * Reads a JSON or YAML scenario: `{ url?, stages: [{ connections, rate?, rampTo?, duration }], ...options }`.
 * Durations accept `30s`, `2m`, `500ms` or milliseconds.
 */
export function loadScenario(path: string): Partial<BenchOptions> {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    if (exceedsDepth(text, MAX_SCENARIO_DEPTH)) throw new Error(`it nests deeper than ${MAX_SCENARIO_DEPTH} levels of arrays/objects`);
    raw = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`scenario\` to be a readable JSON or YAML file, got \`${path}\` (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`scenario\` ${path} to hold an object with \`stages\``);
  const o = raw as Record<string, unknown>;
  const stagesRaw = o.stages;
  if (!Array.isArray(stagesRaw) || stagesRaw.length === 0) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`stages\` in ${path} to be a non-empty list, got \`${String(JSON.stringify(stagesRaw)).slice(0, 120)}\``);
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
  // each header becomes one line of every upgrade request: a line break in it would add others
  if (o.headers !== undefined) {
    if (o.headers === null || typeof o.headers !== 'object' || Array.isArray(o.headers)) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`headers\` in ${path} to be a map of header name to value`);
    for (const [name, value] of Object.entries(o.headers)) {
      if (!HEADER_NAME.test(name) || typeof value !== 'string' || !HEADER_VALUE.test(value)) {
        throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`headers.${name}\` in ${path} to be a header name (letters, digits, !#$%&'*+.^_\`|~-) with a string value without line breaks, got \`${String(JSON.stringify(value)).slice(0, 120)}\``);
      }
    }
  }
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
