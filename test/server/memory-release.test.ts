import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseMemory } from '../../src/server/memory-release.js';

test('releaseMemory frees unreferenced Buffers now, without waiting for V8 to collect on its own', () => {
  releaseMemory();
  const before = process.memoryUsage().arrayBuffers;
  let held: Buffer[] | undefined = Array.from({ length: 200 }, () => Buffer.alloc(100_000, 1));
  assert.ok(process.memoryUsage().arrayBuffers >= before + 19_000_000);
  held = undefined;
  assert.equal(held, undefined);
  assert.equal(releaseMemory(), true, 'Node exposes a collector');
  assert.ok(process.memoryUsage().arrayBuffers < before + 2_000_000, 'the 20 MB of dropped Buffers are gone after it');
});
