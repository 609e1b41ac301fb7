import { FloodgateError } from '../errors.js';
import type { BenchOptions, Stage } from './types.js';

/** Stages from options: an explicit list, or one stage from connections/rate/rampTo/duration. */
export function stagesFrom(o: BenchOptions): Stage[] {
  const explicit = o.stages !== undefined;
  const stages = o.stages ?? [{ connections: o.connections ?? 1, rate: o.rate, rampTo: o.rampTo, durationMs: o.durationMs ?? 10_000 }];
  if (stages.length === 0) throw new FloodgateError('FG_ERR_BENCH_PLAN', 'Expected `stages` to hold at least one stage, got none');
  let prev = 0;
  stages.forEach((s, i) => {
    // name the option the caller set: `connections` for run({ connections }), `stages[1].connections` for a list
    const name = (k: string): string => (explicit ? `stages[${i}].${k}` : k);
    if (!Number.isInteger(s.connections) || s.connections < 1 || s.connections > 10_000_000) {
      throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${name('connections')}\` to be an integer from 1 to 10,000,000, got \`${show(s.connections)}\``);
    }
    if (s.connections < prev) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${name('connections')}\` to be at least the previous stage's ${prev} (stages only grow), got \`${s.connections}\``);
    prev = s.connections;
    for (const k of ['rate', 'rampTo'] as const) {
      const v = s[k];
      if (v !== undefined && !(typeof v === 'number' && v > 0 && v <= 1_000_000)) {
        throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${name(k)}\` to be a number of connections per second above 0 and up to 1,000,000, got \`${show(v)}\``);
      }
    }
    if (s.rampTo !== undefined && s.rate === undefined) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${name('rate')}\` with \`${name('rampTo')}\` (ramp from a rate to another)`);
    if (!(typeof s.durationMs === 'number' && s.durationMs >= 0)) {
      throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${name('durationMs')}\` to be a duration of 0 ms or more, got \`${show(s.durationMs)}\``);
    }
  });
  return stages;
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : typeof v === 'string' ? `"${v}"` : String(v);
}

export interface Timeline {
  /** Planned start of every connection, ms after the run's start (sorted). */
  offsets: number[];
  /** When the last stage's hold ends, ms after start. */
  endMs: number;
  /** Highest arrival rate of any stage (per second), 0 = all bursts. */
  maxRate: number;
}

/** Planned arrival times: burst stages start all at once, rate stages space arrivals at 1/rate (ramping linearly). */
export function buildTimeline(stages: Stage[]): Timeline {
  const offsets: number[] = [];
  let t = 0;
  let have = 0;
  let maxRate = 0;
  for (const s of stages) {
    const n = s.connections - have;
    have = s.connections;
    if (s.rate === undefined) {
      for (let i = 0; i < n; i++) offsets.push(t);
    } else {
      const r0 = s.rate;
      const r1 = s.rampTo ?? s.rate;
      maxRate = Math.max(maxRate, r0, r1);
      for (let i = 0; i < n; i++) {
        offsets.push(t);
        const r = n > 1 ? r0 + ((r1 - r0) * i) / (n - 1) : r0;
        t += 1000 / r;
      }
      if (n > 0) t -= 1000 / (s.rampTo ?? s.rate);
    }
    t += s.durationMs;
  }
  return { offsets, endMs: t, maxRate };
}
