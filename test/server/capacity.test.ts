import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeCapacity } from '../../src/server/capacity.js';
import { parseFdLimits, readMemoryLimit } from '../../src/system/limits.js';
import { FloodgateError } from '../../src/errors.js';

const MiB = 1024 * 1024;

test('reproduces the seeds\' arithmetic: 512 MB − 128 MB at 180 KB per connection = 2,184', () => {
  const cap = computeCapacity({
    explicit: 0, memoryLimit: 512 * MiB, memorySource: 'cgroup-v2', memoryOverhead: 128 * MiB,
    bytesPerConnection: 180 * 1024, fdLimit: 20_000, reservedFds: 64,
  });
  assert.equal(cap.maxConnections, 2184);
  assert.equal(cap.origin, 'memory');
  assert.match(cap.explanation, /^2184 \(memory\): memory \(512 MiB cgroup-v2 − 128 MiB overhead\) \/ 180 KiB per connection = 2184; fds 20000 − 64 reserved = 19936$/);
});

test('the smallest of explicit, memory and fd caps wins', () => {
  const common = { memorySource: 'physical', memoryOverhead: 0, bytesPerConnection: 1024, reservedFds: 100 };
  assert.equal(computeCapacity({ ...common, explicit: 0, memoryLimit: 1024 * MiB, fdLimit: 20_000 }).origin, 'fds');
  assert.equal(computeCapacity({ ...common, explicit: 0, memoryLimit: 1024 * MiB, fdLimit: 20_000 }).maxConnections, 19_900);
  const explicit = computeCapacity({ ...common, explicit: 500, memoryLimit: 1024 * MiB, fdLimit: 20_000 });
  assert.deepEqual([explicit.maxConnections, explicit.origin], [500, 'explicit']);
  const tooBig = computeCapacity({ ...common, explicit: 50_000, memoryLimit: 1024 * MiB, fdLimit: 20_000 });
  assert.deepEqual([tooBig.maxConnections, tooBig.origin], [19_900, 'fds']);
  assert.throws(
    () => computeCapacity({ ...common, explicit: 0, memoryLimit: 10 * MiB, memoryOverhead: 64 * MiB, fdLimit: 20_000 }),
    (e: unknown) => e instanceof FloodgateError && e.code === 'FG_ERR_CAPACITY',
  );
});

test('memory limit: cgroup v2, v1 (with its unlimited sentinel), else physical', () => {
  const v2 = mkdtempSync(join(tmpdir(), 'cg2-'));
  writeFileSync(join(v2, 'memory.max'), '536870912\n');
  assert.deepEqual(readMemoryLimit(v2, 8 * 1024 * MiB), { bytes: 512 * MiB, source: 'cgroup-v2' });
  const v2max = mkdtempSync(join(tmpdir(), 'cg2-'));
  writeFileSync(join(v2max, 'memory.max'), 'max\n');
  assert.deepEqual(readMemoryLimit(v2max, 8 * 1024 * MiB), { bytes: 8 * 1024 * MiB, source: 'physical' });
  const v1 = mkdtempSync(join(tmpdir(), 'cg1-'));
  mkdirSync(join(v1, 'memory'));
  writeFileSync(join(v1, 'memory', 'memory.limit_in_bytes'), '1073741824\n');
  assert.deepEqual(readMemoryLimit(v1, 8 * 1024 * MiB), { bytes: 1024 * MiB, source: 'cgroup-v1' });
  writeFileSync(join(v1, 'memory', 'memory.limit_in_bytes'), '9223372036854771712\n');
  assert.deepEqual(readMemoryLimit(v1, 8 * 1024 * MiB), { bytes: 8 * 1024 * MiB, source: 'physical' });
});

test('fd limits from /proc/<pid>/limits', () => {
  const text = [
    'Limit                     Soft Limit           Hard Limit           Units',
    'Max open files            1024                 20000                files',
  ].join('\n');
  assert.deepEqual(parseFdLimits(text), { soft: 1024, hard: 20000 });
  assert.deepEqual(parseFdLimits('Max open files unlimited unlimited files'), { soft: undefined, hard: undefined });
});
