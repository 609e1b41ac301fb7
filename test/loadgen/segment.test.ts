import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFloodgateError } from '../../src/errors.js';
import { buildTimeline } from '../../src/loadgen/schedule.js';
import { parseSegment, segmentShare, segmentSourceIps, segmentStages, segmentTimeline } from '../../src/loadgen/segment.js';
import type { Stage } from '../../src/loadgen/types.js';
import { parseSourceIps } from '../../src/loadgen/target.js';

const segs = (n: number) => Array.from({ length: n }, (_, i) => ({ index: i + 1, count: n }));
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

describe('execution segments', () => {
  it('parses i/N and refuses anything else with the accepted range', () => {
    assert.deepEqual(parseSegment('2/4'), { index: 2, count: 4 });
    assert.deepEqual(parseSegment(' 1 / 1 '), { index: 1, count: 1 });
    assert.equal(parseSegment(undefined), undefined);
    for (const bad of ['0/3', '4/3', '1/0', 'a/b', '2', '1/3/4', '-1/3', '1.5/3']) {
      assert.throws(() => parseSegment(bad), (e: unknown) => isFloodgateError(e) && e.code === 'FG_ERR_BENCH_PLAN' && /segment/.test(e.message) && e.message.includes(bad), bad);
    }
  });

  it('10,001 connections over 3 are 3,334 + 3,334 + 3,333', () => {
    assert.deepEqual(segs(3).map((s) => segmentShare(10_001, s)), [3334, 3334, 3333]);
    assert.deepEqual(segs(7).map((s) => segmentShare(10, s)), [2, 2, 2, 1, 1, 1, 1]);
    assert.deepEqual(segs(4).map((s) => segmentShare(2, s)), [1, 1, 0, 0]);
  });

  it('7/s over 3 segments: every planned arrival of the whole timeline is in exactly one segment', () => {
    const stages: Stage[] = [{ connections: 10_001, rate: 7, durationMs: 1000 }];
    const whole = buildTimeline(stages);
    const parts = segs(3).map((s) => segmentTimeline(whole, s));
    assert.deepEqual(parts.map((p) => p.offsets.length), [3334, 3334, 3333]);
    assert.deepEqual(sorted(parts.flatMap((p) => p.offsets)), whole.offsets);
    for (const p of parts) {
      assert.equal(p.endMs, whole.endMs);
      assert.equal(p.maxRate, 7 / 3);
      // each segment arrives at 1/3 of the rate: 3 whole-scenario intervals apart
      assert.ok(Math.abs(p.offsets[1] - p.offsets[0] - 3000 / 7) < 1e-6);
    }
    // the first arrivals interleave: 0 → segment 1, 1/7 s → segment 2, 2/7 s → segment 3
    assert.deepEqual(parts.map((p) => p.offsets[0]), whole.offsets.slice(0, 3));
  });

  it('stages: shares of each cumulative count, 1/N of each rate, the same durations', () => {
    const stages: Stage[] = [
      { connections: 5, durationMs: 500 },
      { connections: 1001, rate: 7, rampTo: 100, durationMs: 2000 },
      { connections: 1001, durationMs: 300 },
    ];
    const parts = segs(3).map((s) => segmentStages(stages, s));
    assert.deepEqual(parts.map((p) => p.map((st) => st.connections)), [[2, 334, 334], [2, 334, 334], [1, 333, 333]]);
    stages.forEach((st, i) => assert.equal(sum(parts.map((p) => p[i].connections)), st.connections));
    assert.deepEqual(parts[0][1], { connections: 334, rate: 2.333333, rampTo: 33.333333, durationMs: 2000 });
    assert.equal(parts[2][2].rate, undefined);
    // and the timelines of a ramp with bursts add up to the whole too
    const whole = buildTimeline(stages);
    const tl = segs(3).map((s) => segmentTimeline(whole, s));
    assert.deepEqual(sorted(tl.flatMap((p) => p.offsets)), whole.offsets);
    parts.forEach((p, i) => assert.equal(tl[i].offsets.length, p[p.length - 1].connections));
  });

  it('every total from 1 to 400 over every N from 1 to 17, burst and at 7/s: shares and timelines add up exactly', () => {
    for (const rate of [undefined, 7, 1234.5]) {
      for (let total = 1; total <= 400; total++) {
        const whole = buildTimeline([{ connections: total, rate, durationMs: 10 }]);
        for (let n = 1; n <= 17; n++) {
          const parts = segs(n).map((s) => segmentTimeline(whole, s));
          const sizes = parts.map((p) => p.offsets.length);
          assert.deepEqual(sizes, segs(n).map((s) => segmentShare(total, s)));
          assert.equal(sum(sizes), total, `${total} over ${n}`);
          assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
          assert.deepEqual(sorted(parts.flatMap((p) => p.offsets)), whole.offsets, `${total} over ${n} at ${rate}`);
        }
      }
    }
  });

  it('source IPs: contiguous disjoint blocks that cover the list; fewer addresses than segments is refused', () => {
    const ips = parseSourceIps('10.0.0.1-10.0.0.10');
    const blocks = segs(3).map((s) => segmentSourceIps(ips, s));
    assert.deepEqual(blocks, [
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
      ['10.0.0.4', '10.0.0.5', '10.0.0.6'],
      ['10.0.0.7', '10.0.0.8', '10.0.0.9', '10.0.0.10'],
    ]);
    assert.deepEqual(blocks.flat(), ips);
    assert.deepEqual(segmentSourceIps([], { index: 2, count: 3 }), []);
    assert.throws(() => segmentSourceIps(ips.slice(0, 2), { index: 1, count: 3 }), (e: unknown) => isFloodgateError(e) && e.code === 'FG_ERR_BENCH_PLAN' && /at least one address per segment to split without overlap \(3 segments\), got 2/.test(e.message));
  });
});
