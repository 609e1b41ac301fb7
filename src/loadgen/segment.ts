import { FloodgateError } from '../errors.js';
import type { Timeline } from './schedule.js';
import type { Stage } from './types.js';

/**
 * Execution segments: `--segment i/N` runs the i-th of N equal, disjoint shares of one scenario,
 * so N machines running the same command with i = 1…N add up to exactly the whole scenario.
 *
 * The split follows k6's idea of striping rather than cutting the timeline into blocks: the whole
 * scenario's planned arrivals are numbered 0, 1, 2… in time order and arrival k goes to segment
 * (k mod N) + 1. Every segment therefore runs during the whole scenario at 1/N of its arrival rate
 * (ramps and stages included), every arrival belongs to exactly one segment, and the union of the
 * segments' planned start times is the whole scenario's. A share is ⌈(C − i + 1) / N⌉ of C
 * arrivals, so the shares of 10,001 over 3 are 3,334 + 3,334 + 3,333.
 */
export interface Segment {
  /** 1-based. */
  index: number;
  count: number;
}

export function parseSegment(spec: string | Segment | undefined): Segment | undefined {
  if (spec === undefined) return undefined;
  if (typeof spec === 'object') return checkSegment(spec.index, spec.count, `${spec.index}/${spec.count}`);
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`segment\` as i/N with 1 ≤ i ≤ N (e.g. 2/4), got \`${spec}\``);
  return checkSegment(Number(m[1]), Number(m[2]), spec);
}

function checkSegment(index: number, count: number, spec: string): Segment {
  if (!Number.isInteger(count) || count < 1 || count > 10_000 || !Number.isInteger(index) || index < 1 || index > count) {
    throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`segment\` as i/N with N from 1 to 10,000 and i from 1 to N, got \`${spec}\``);
  }
  return { index, count };
}

/** How many of `total` striped items (numbered from 0) fall in the segment. */
export function segmentShare(total: number, s: Segment): number {
  return Math.max(0, Math.ceil((total - (s.index - 1)) / s.count));
}

/** The segment's stages: the same durations, its share of each stage's (cumulative) connections and 1/N of each rate. */
export function segmentStages(stages: Stage[], s: Segment): Stage[] {
  const scale = (r: number | undefined): number | undefined => (r === undefined ? undefined : Math.round((r / s.count) * 1e6) / 1e6);
  return stages.map((st) => {
    const out: Stage = { connections: segmentShare(st.connections, s), durationMs: st.durationMs };
    if (st.rate !== undefined) out.rate = scale(st.rate);
    if (st.rampTo !== undefined) out.rampTo = scale(st.rampTo);
    return out;
  });
}

/** The segment's planned arrivals: arrival k of the whole timeline when k mod N = i − 1; the end stays the whole scenario's. */
export function segmentTimeline(t: Timeline, s: Segment): Timeline {
  const offsets: number[] = [];
  for (let k = s.index - 1; k < t.offsets.length; k += s.count) offsets.push(t.offsets[k]);
  return { offsets, endMs: t.endMs, maxRate: t.maxRate / s.count };
}

/**
 * The segment's own block of source addresses: contiguous, disjoint, sizes differing by at most
 * one. Addresses are not striped like arrivals because each machine owns its addresses: a block
 * reads as "machine 2 has 10.0.0.11–10.0.0.20".
 */
export function segmentSourceIps(ips: string[], s: Segment): string[] {
  if (ips.length === 0 || s.count === 1) return ips;
  if (ips.length < s.count) {
    throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`sourceIps\` to hold at least one address per segment to split without overlap (${s.count} segments), got ${ips.length}; give each machine its own --source-ips instead`);
  }
  const from = Math.floor((ips.length * (s.index - 1)) / s.count);
  const to = Math.floor((ips.length * s.index) / s.count);
  return ips.slice(from, to);
}

export const segmentLabel = (s: Segment): string => `${s.index}/${s.count}`;
