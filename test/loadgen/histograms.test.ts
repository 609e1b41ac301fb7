import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as hdr from 'hdr-histogram-js';
import { correctedCopy, meanOf, decodeHistogram, encodeHistogram, mergeEncoded, newHistogram } from '../../src/loadgen/histograms.js';

// the library's own full build (wasm, pako) is the reference the lean one must match byte for byte
const reference = (): hdr.Histogram => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

test('encodes exactly as hdr-histogram-js does (V2 compressed), empty or full', () => {
  assert.equal(encodeHistogram(newHistogram()), hdr.encodeIntoCompressedBase64(reference()));
  const ours = newHistogram();
  const lib = reference();
  let seed = 7;
  for (let i = 0; i < 20_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const v = 1 + Math.floor(Math.exp((seed / 2 ** 31) * 21)); // 1 µs … ~20 min
    ours.recordValue(v);
    lib.recordValue(v);
  }
  assert.equal(encodeHistogram(ours), hdr.encodeIntoCompressedBase64(lib));
});

test('decodes what hdr-histogram-js encodes, and the library decodes ours', () => {
  const lib = reference();
  for (const v of [1, 2, 999, 1000, 1001, 65_000, 2_000_000, 3_599_999_999]) lib.recordValue(v);
  lib.recordValue(1000);
  const decoded = decodeHistogram(hdr.encodeIntoCompressedBase64(lib));
  assert.equal(decoded.totalCount, lib.totalCount);
  for (const p of [0, 10, 50, 90, 99, 100]) assert.equal(decoded.getValueAtPercentile(p), lib.getValueAtPercentile(p), `p${p}`);
  const back = hdr.decodeFromCompressedBase64(encodeHistogram(decoded));
  assert.equal(back.totalCount, lib.totalCount);
  assert.equal(back.getValueAtPercentile(99), lib.getValueAtPercentile(99));
  assert.throws(() => decodeHistogram(Buffer.from('not a histogram').toString('base64')), /not a compressed V2 HdrHistogram/);
});

test('merges encoded histograms from several workers', () => {
  const a = newHistogram();
  const b = newHistogram();
  a.recordValue(100);
  b.recordValue(300);
  b.recordValue(300);
  const m = mergeEncoded([encodeHistogram(a), '', encodeHistogram(b)]);
  assert.equal(m.totalCount, 3);
  assert.equal(m.minNonZeroValue, 100);
  assert.equal(m.getValueAtPercentile(100), 300);
});

test('correctedCopy equals the library\'s coordinated-omission copy, bucket for bucket', () => {
  // values from 1 µs to ~4 s (fine buckets below the interval, wide ones far above it), intervals
  // below, at and far above the finest bucket width
  // (the library's copy costs one record per added value: the sizes keep it to a few seconds)
  for (const [interval, top] of [[7, 9.5], [1000, 15.2], [2500, 15.2], [100_000, 17]]) {
    const h = newHistogram();
    let seed = interval;
    for (let i = 0; i < 400; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      h.recordValue(1 + Math.floor(Math.exp((seed / 2 ** 31) * top)));
    }
    h.recordValueWithCount(interval, 3);
    const lib = h.copyCorrectedForCoordinatedOmission(interval);
    // the fast path, not a fallback to the library's copy, is what is compared
    const libCopy = h.copyCorrectedForCoordinatedOmission;
    h.copyCorrectedForCoordinatedOmission = () => assert.fail('correctedCopy fell back to the library');
    const ours = correctedCopy(h, interval);
    h.copyCorrectedForCoordinatedOmission = libCopy;
    assert.equal(ours.totalCount, lib.totalCount, `count, interval ${interval}`);
    assert.ok(ours.totalCount > h.totalCount, 'samples were added');
    assert.equal(ours.minNonZeroValue, lib.minNonZeroValue, `min, interval ${interval}`);
    assert.equal(ours.maxValue, lib.maxValue, `max, interval ${interval}`);
    assert.equal(encodeHistogram(ours), encodeHistogram(lib), `buckets, interval ${interval}`);
  }
  assert.equal(correctedCopy(newHistogram(), 1000).totalCount, 0);
});

test('meanOf equals the library\'s mean', () => {
  const h = newHistogram();
  assert.equal(meanOf(h), 0);
  let seed = 11;
  for (let i = 0; i < 5000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    h.recordValue(1 + Math.floor(Math.exp((seed / 2 ** 31) * 20)));
  }
  assert.equal(meanOf(h), h.mean);
});
