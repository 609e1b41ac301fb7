import { test } from 'node:test';
import assert from 'node:assert/strict';
import { instanceCapacity, planCapacity } from '../../src/doctor/capacity-plan.js';
import { runPlan } from '../../src/doctor/run-plan.js';
import { computeCapacity } from '../../src/server/capacity.js';
import { MEASURED_BYTES_PER_CONNECTION } from '../../src/config/server-settings.js';

const MB = 1024 ** 2;
const KB = 1024;

test('the connection-cap post-mortem: 512 MB − 128 MB over 180 KB = 2,184', () => {
  const c = instanceCapacity({ memoryPerInstance: 512 * MB, overhead: 128 * MB, bytesPerConnection: 180 * KB, reservedFds: 64 });
  assert.equal(c.perInstance, 2184);
  assert.equal(c.limitedBy, 'memory');
});

test('300,000 users × 5% → 15,000 → 7 instances of 512 MB or 2 of 2 GB', () => {
  const base = { users: 300_000, activeRatio: 0.05, peakFactor: 1, headroom: 0, overhead: 128 * MB, bytesPerConnection: 180 * KB, reservedFds: 64, fdLimit: 20_000 };
  const small = planCapacity({ ...base, memoryPerInstance: 512 * MB });
  assert.equal(small.concurrent, 15_000);
  assert.equal(small.instances, 7);
  assert.equal(small.capacity, 15_288);
  assert.ok(Math.abs(small.headroom - 0.0192) < 0.001, 'the post-mortem\'s "2% overhead"');
  const big = planCapacity({ ...base, memoryPerInstance: 2048 * MB });
  // the post-mortem printed 10,666 (it divided 1,920 MB by 180 KB in decimal units); in bytes it is 10,922
  assert.equal(big.instance.perInstance, 10_922);
  assert.equal(big.instances, 2);
});

test('the same arithmetic as the gateway\'s cap', () => {
  for (const [mem, bpc, fd] of [[512 * MB, 180 * KB, 20_000], [512 * MB, 8 * KB, 20_000], [64 * MB, 8 * KB, 1000]] as const) {
    const mine = instanceCapacity({ memoryPerInstance: mem, overhead: 16 * MB, bytesPerConnection: bpc, fdLimit: fd, reservedFds: 64 });
    const gw = computeCapacity({ explicit: 0, memoryLimit: mem, memorySource: 'test', memoryOverhead: 16 * MB, bytesPerConnection: bpc, fdLimit: fd, reservedFds: 64 });
    assert.equal(mine.perInstance, gw.maxConnections);
  }
});

test('peak factor and wanted headroom add instances', () => {
  const p = planCapacity({ users: 100_000, activeRatio: 0.1, peakFactor: 2, headroom: 0.25, memoryPerInstance: 512 * MB, overhead: 128 * MB, bytesPerConnection: 180 * KB, reservedFds: 64 });
  assert.equal(p.peakConcurrent, 20_000);
  assert.equal(p.required, 25_000);
  assert.equal(p.instances, Math.ceil(25_000 / 2184));
});

test('bad input names the field and the range', () => {
  assert.throws(() => planCapacity({ users: 10, activeRatio: 2, peakFactor: 1, headroom: 0, memoryPerInstance: MB, overhead: 0, bytesPerConnection: KB, reservedFds: 0 }),
    { code: 'FG_ERR_INVALID_CONFIG', message: /`activeRatio` must be a number from 0 to 1, got `2`/ });
  assert.throws(() => runPlan({ users: '1000', memory: 'lots' }), { code: 'FG_ERR_INVALID_CONFIG', message: /`--memory` must be a size/ });
  assert.throws(() => planCapacity({ users: 10, activeRatio: 0.1, peakFactor: 1, headroom: 0, memoryPerInstance: 64 * MB, overhead: 128 * MB, bytesPerConnection: KB, reservedFds: 0 }),
    { code: 'FG_ERR_CAPACITY' });
});

test('floodgate plan prints the post-mortem\'s figures and Floodgate\'s own for the same inputs', () => {
  const r = runPlan({ users: '300000', active: '5%', bytesPerConnection: '180KB', memory: '512MB,2GB', overhead: '128MB', fdLimit: '20000' });
  assert.deepEqual(r.plans.map((p) => [p.instance.perInstance, p.instances]), [[2184, 7], [10922, 2]]);
  assert.match(r.output, /300,000 users × 5\.0% active = 15,000 concurrent/);
  assert.match(r.output, /\(512 MiB − 128 MiB overhead\) \/ 180 KiB = 2,184 by memory/);
  assert.match(r.output, /instances: 7 × 2,184 = 15,288 capacity/);
  assert.match(r.output, /instances: 2 × 10,922 = 21,844 capacity/);
  assert.match(r.output, /With Floodgate's measured 8 KiB per connection/);
  const own = r.floodgate!;
  assert.equal(own[0].inputs.bytesPerConnection, MEASURED_BYTES_PER_CONNECTION);
  assert.equal(own[0].instance.memoryCap, Math.floor((384 * MB) / MEASURED_BYTES_PER_CONNECTION));
  assert.equal(own[0].instances, 1, 'one 512 MB instance holds the 15,000 (fds 20,000 − 64 are the limit)');
});

test('plan/doctor/tune/watch numbers are decimal: 0x10 users or an empty --active are named errors, not 16 or 0', async () => {
  const { intFlag, numberFlag, ratioFlag } = await import('../../src/doctor/parse-input.js');
  for (const [fn, flag, text] of [[intFlag, '--users', '0x10'], [intFlag, '--users', ''], [intFlag, '--fd-limit', '0b11'], [numberFlag, '--peak-factor', '0x2'], [ratioFlag, '--active', ''], [ratioFlag, '--active', '0x1%']] as const) {
    assert.throws(() => (fn as (f: string, v: unknown, a: number, b: number) => number)(flag, text, 0, 1e12), (e: Error & { code?: string }) => e.code === 'FG_ERR_INVALID_CONFIG' && e.message.includes(`\`${flag}\``), `${flag}=${JSON.stringify(text)}`);
  }
  assert.deepEqual([intFlag('--users', '1_000_000', 0, 1e12), intFlag('--users', '1e6', 0, 1e12), numberFlag('--peak-factor', '1.5', 1, 1000), ratioFlag('--active', '5%')], [1_000_000, 1_000_000, 1.5, 0.05]);
});
