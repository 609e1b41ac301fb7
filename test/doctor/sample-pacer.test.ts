import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SamplePacer, type SampleKind } from '../../src/doctor/sample-pacer.js';

/**
 * Drives a pacer as the recorder does, without clocks: every tick the generator has used
 * `genPerTick` ms more CPU, and a read allowed now costs `cost(kind)` ms.
 */
function drive(p: SamplePacer, ticks: number, genPerTick: number, cost: (k: SampleKind) => number, lightCapable = true): { kinds: SampleKind[]; maxOver: number } {
  const kinds: SampleKind[] = [];
  let maxOver = -Infinity;
  for (let i = 1; i <= ticks; i++) {
    const base = i * genPerTick;
    const k = p.next(base, lightCapable);
    if (k !== undefined) {
      p.record(k, cost(k));
      kinds.push(k);
    }
    maxOver = Math.max(maxOver, p.spentMs - p.share * base);
  }
  return { kinds, maxOver };
}

test('reads stay within the share of the generator\'s CPU, by at most the cost of a read of a kind not seen yet', () => {
  const p = new SamplePacer(0.02);
  // costs that vary from read to read (the helper's CPU comes in 10 ms ticks)
  let n = 0;
  const { kinds, maxOver } = drive(p, 400, 100, (k) => (k === 'full' ? 40 : 10) + (n++ % 3 === 0 ? 10 : 0));
  assert.ok(kinds.length > 10, `reads happen: ${kinds.length}`);
  // only a read of a kind not seen yet is misjudged (the first one): by its cost at most
  assert.ok(maxOver <= 50, `over the budget by ${maxOver} ms at most`);
  assert.ok(p.spentMs <= 0.02 * 400 * 100 + 50);
});

test('the interval widens when reads get dearer: four times the cost, about a quarter of the reads', () => {
  const cheap = drive(new SamplePacer(0.02), 1000, 100, () => 10, false).kinds.length;
  const dear = drive(new SamplePacer(0.02), 1000, 100, () => 40, false).kinds.length;
  assert.ok(dear < cheap / 3, `${dear} dear reads against ${cheap} cheap ones`);
  assert.ok(dear > cheap / 5);
});

test('a busier generator buys more reads: the budget follows its CPU, not the clock', () => {
  const idle = drive(new SamplePacer(0.02), 1000, 10, () => 10).kinds.length;
  const busy = drive(new SamplePacer(0.02), 1000, 100, () => 10).kinds.length;
  assert.ok(busy > idle * 5, `${busy} against ${idle}`);
});

test('with sock_diag, a read with ESTABLISHED, then three without and one with, and so on; with /proc, every read is full', () => {
  const light = drive(new SamplePacer(0.02), 2000, 100, (k) => (k === 'full' ? 40 : 10)).kinds;
  assert.deepEqual(light.slice(0, 9), ['full', 'light', 'light', 'light', 'full', 'light', 'light', 'light', 'full']);
  const full = drive(new SamplePacer(0.02), 2000, 100, () => 40, false).kinds;
  assert.ok(full.length > 0 && full.every((k) => k === 'full'));
});

test('forced reads and overhead come out of the same budget: after a dear forced read, the paced ones wait', () => {
  const p = new SamplePacer(0.02);
  p.record('full', 100); // a forced read at the peak
  p.addOverhead(20);
  assert.equal(p.next(5000, true), undefined, '120 ms spent, the budget at 5 s of generator CPU is 100 ms');
  assert.equal(p.next(20_000, true), 'light', 'at 20 s of generator CPU (400 ms) there is room');
});

test('a reserve for the reads still to be forced keeps the paced ones back until the budget covers both', () => {
  const p = new SamplePacer(0.02);
  p.record('full', 50); // the pre-flight's read
  // 5 s of generator CPU: 100 ms of budget, 50 spent, a light read expected at 50 (as the full one)
  assert.equal(p.next(5000, true, 0), 'light');
  assert.equal(p.next(5000, true, 100), undefined, 'a forced read of ~100 ms still to come');
  assert.equal(p.next(10_000, true, 100), 'light', 'at 10 s (200 ms) there is room for both');
});

test('a share outside (0, 1) is refused with the value', () => {
  assert.throws(() => new SamplePacer(0), /Expected `share` to be a number between 0 and 1, got `0`/);
  assert.throws(() => new SamplePacer(1.5), /got `1.5`/);
});
