import * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from './types.js';

export type Histogram = hdr.Histogram;

/** Microsecond histograms up to one hour, 3 significant digits (autocannon's settings). */
export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(s: string): Histogram {
  return hdr.decodeFromCompressedBase64(s);
}

/** Merges encoded histograms from several workers into one. */
export function mergeEncoded(encoded: string[]): Histogram {
  const out = newHistogram();
  for (const e of encoded) if (e) out.add(decodeHistogram(e));
  return out;
}

const ms = (us: number): number => Math.round(us) / 1000;

export function summarize(h: Histogram): LatencySummary {
  const n = h.totalCount;
  if (n === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: n,
    min: ms(h.minNonZeroValue),
    mean: ms(h.mean),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}
