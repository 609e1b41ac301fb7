import { createRequire } from 'node:module';
import { deflateSync, inflateSync } from 'node:zlib';
import type * as ByteBufferModule from 'hdr-histogram-js/dist/ByteBuffer.js';
import type * as Int32HistogramModule from 'hdr-histogram-js/dist/Int32Histogram.js';
import type * as ZigZagModule from 'hdr-histogram-js/dist/ZigZagEncoding.js';
import type { LatencySummary } from './types.js';

/*
 * Only the pure-JS parts of hdr-histogram-js are loaded. Its index also loads the WebAssembly build
 * (a large base64 string) and pako, which cost ~17 MB RSS in every generator process while Node's
 * own zlib does the same deflate. The wire format below is the library's V2 compressed encoding,
 * byte for byte, so encoded histograms stay readable by hdr-histogram-js (and HdrHistogram in
 * other languages) and older results still decode.
 */
const require = createRequire(import.meta.url);
const Int32Histogram = (require('hdr-histogram-js/dist/Int32Histogram.js') as (typeof Int32HistogramModule)['default']).default;
const ByteBuffer = (require('hdr-histogram-js/dist/ByteBuffer.js') as (typeof ByteBufferModule)['default']).default;
const ZigZag = (require('hdr-histogram-js/dist/ZigZagEncoding.js') as (typeof ZigZagModule)['default']).default;

export type Histogram = InstanceType<typeof Int32Histogram>;

const LOWEST = 1;
const HIGHEST = 3_600_000_000;
const DIGITS = 3;
const V2_COOKIE = 0x1c849303 | 0x10;
const V2_COMPRESSED_COOKIE = 0x1c849304 | 0x10;

/** Microsecond histograms up to one hour, 3 significant digits (autocannon's settings). */
export function newHistogram(): Histogram {
  const h = new Int32Histogram(LOWEST, HIGHEST, DIGITS);
  h.autoResize = true;
  return h;
}

/** Counts as ZigZag LEB128, a run of zero counts as one negative number (HdrHistogram V2). */
function encodeUncompressed(h: Histogram): Uint8Array {
  const buf = ByteBuffer.allocate(64);
  buf.putInt32(V2_COOKIE);
  buf.putInt32(0); // payload length, filled in below
  buf.putInt32(1); // normalizing index offset
  buf.putInt32(h.numberOfSignificantValueDigits);
  buf.putInt64(h.lowestDiscernibleValue);
  buf.putInt64(h.highestTrackableValue);
  buf.putInt64(1); // integer to double conversion ratio
  const start = buf.position;
  const limit = h.countsArrayIndex(h.maxValue) + 1;
  let i = 0;
  while (i < limit) {
    const count = h.getCountAtIndex(i++);
    if (count === 0) {
      let zeros = 1;
      while (i < limit && h.getCountAtIndex(i) === 0) {
        zeros++;
        i++;
      }
      ZigZag.encode(buf, zeros > 1 ? -zeros : 0);
    } else {
      ZigZag.encode(buf, count);
    }
  }
  const end = buf.position;
  buf.position = 4;
  buf.putInt32(end - start);
  return buf.data.subarray(0, end);
}

export function encodeHistogram(h: Histogram): string {
  const compressed = deflateSync(encodeUncompressed(h));
  const out = Buffer.allocUnsafe(8 + compressed.length);
  out.writeInt32BE(V2_COMPRESSED_COOKIE, 0);
  out.writeInt32BE(compressed.length, 4);
  compressed.copy(out, 8);
  return out.toString('base64');
}

export function decodeHistogram(s: string): Histogram {
  const data = Buffer.from(s.trim(), 'base64');
  if (data.length < 8 || (data.readInt32BE(0) & ~0xf0) !== 0x1c849304) throw new Error('not a compressed V2 HdrHistogram');
  const raw = inflateSync(data.subarray(8, 8 + data.readInt32BE(4)));
  const buf = new ByteBuffer(new Uint8Array(raw.buffer, raw.byteOffset, raw.length));
  if ((buf.getInt32() & ~0xf0) !== 0x1c849303) throw new Error('not a V2 HdrHistogram payload');
  const payload = buf.getInt32();
  buf.getInt32();
  const digits = buf.getInt32();
  const lowest = buf.getInt64();
  const highest = buf.getInt64();
  buf.getInt64();
  const h = new Int32Histogram(lowest, highest, digits);
  const end = buf.position + payload;
  let index = 0;
  while (buf.position < end) {
    const count = ZigZag.decode(buf);
    if (count < 0) index -= count;
    else h.setCountAtIndex(index++, count);
  }
  h.establishInternalTackingValues(index);
  return h;
}

/** Merges encoded histograms from several workers into one. */
export function mergeEncoded(encoded: string[]): Histogram {
  const out = newHistogram();
  for (const e of encoded) if (e) out.add(decodeHistogram(e));
  return out;
}

const ms = (us: number): number => Math.round(us) / 1000;

/**
 * The library's `mean` (each recorded bucket counted at its median equivalent value), from the
 * non-empty buckets only: its getter walks an iterator over every bucket up to the maximum, which
 * was most of the cost of the per-second summaries.
 */
export function meanOf(h: Histogram): number {
  const n = h.totalCount;
  if (n === 0) return 0;
  const limit = h.countsArrayIndex(h.maxValue);
  let sum = 0;
  for (let i = 0; i <= limit; i++) {
    const c = h.getCountAtIndex(i);
    if (c !== 0) sum += h.medianEquivalentValue(h.highestEquivalentValue(h.valueFromIndex(i))) * c;
  }
  return sum / n;
}

export function summarize(h: Histogram): LatencySummary {
  const n = h.totalCount;
  if (n === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: n,
    min: ms(h.minNonZeroValue),
    mean: ms(meanOf(h)),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}

/** Records a duration in µs (values below 1 count as 1: the histogram's lowest value). */
export function recordUs(h: Histogram, us: number): void {
  h.recordValue(us < 1 ? 1 : us);
}

/**
 * The same histogram as `h.copyCorrectedForCoordinatedOmission(intervalUs)`, bucket for bucket:
 * every recorded value v (count n) is kept, and n more are added at each of v − interval,
 * v − 2·interval, … down to the interval. The library does that with one full record (three
 * Math.pow/log2 calls) per added value, which for a run whose connections opened a second late at
 * 1,000/s is a thousand records per recorded bucket: at 10,000 connections on a loaded machine it
 * was the generator's largest user-space cost. Here an added value is one integer index
 * computation and one array add, and the values that share a bucket above the interval's width are
 * added in one step. Totals, minimum and maximum match the library's (test/loadgen/histograms.test.ts).
 */
export function correctedCopy(h: Histogram, intervalUs: number): Histogram {
  const copy = newHistogram();
  // Int32Histogram keeps its counts in a Uint32Array
  const raw: unknown = (copy as unknown as { _counts?: unknown })._counts;
  if (h.totalCount === 0) return copy;
  if (!(intervalUs > 0) || copy.unitMagnitude !== 0 || !(raw instanceof Uint32Array || raw instanceof Int32Array) || h.maxValue >= 2 ** 31) {
    return h.copyCorrectedForCoordinatedOmission(intervalUs);
  }
  const counts = raw;
  const I = Math.round(intervalUs);
  const halfMag = copy.subBucketHalfCountMagnitude;
  const half = copy.subBucketHalfCount;
  const indexOf = (m: number): number => {
    const bucket = Math.max(31 - Math.clz32(m) - halfMag, 0);
    return ((bucket + 1) << halfMag) + (m >>> bucket) - half;
  };
  const copyTotal = copy as unknown as { addToTotalCount(n: number): void; updateMinAndMax(v: number): void };
  let added = 0;
  let minAdded = Infinity;
  const limit = h.countsArrayIndex(h.maxValue);
  for (let i = 0; i <= limit; i++) {
    const n = h.getCountAtIndex(i);
    if (n === 0) continue;
    // what the library's recorded-values iterator hands over: the bucket's highest equivalent value
    const v = h.highestEquivalentValue(h.valueFromIndex(i));
    copy.recordValueWithCount(v, n);
    let m = v - I;
    while (m >= I) {
      const bucket = Math.max(31 - Math.clz32(m) - halfMag, 0);
      // the bucket's lowest value: every m − j·I down to it (and not below the interval) lands here
      const low = Math.max((m >>> bucket) << bucket, I);
      const c = Math.floor((m - low) / I) + 1;
      const last = m - (c - 1) * I;
      counts[indexOf(m)] += n * c;
      added += n * c;
      if (last < minAdded) minAdded = last;
      m -= c * I;
    }
  }
  if (added > 0) {
    copyTotal.addToTotalCount(added);
    copyTotal.updateMinAndMax(minAdded);
  }
  return copy;
}
