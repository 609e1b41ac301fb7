import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { stopGroup, trackGroup } from '../helpers/spawn-group.js';
import { YoungGenerationRelease, youngGenerationFlag } from '../../src/server/memory-release.js';

const MiB = 1024 ** 2;
const root = new URL('../../', import.meta.url).pathname;

test("youngGenerationFlag: Node's own semi-space flags, from the command line or NODE_OPTIONS, and nothing else", () => {
  assert.equal(youngGenerationFlag([], ''), undefined);
  assert.equal(youngGenerationFlag(['--max-old-space-size=512', '--expose-gc'], '--enable-source-maps'), undefined);
  assert.equal(youngGenerationFlag(['--max-semi-space-size=4'], ''), '--max-semi-space-size=4');
  assert.equal(youngGenerationFlag([], '--enable-source-maps  --max_semi_space_size=2'), '--max_semi_space_size=2');
  assert.equal(youngGenerationFlag([], '--semi-space-growth-factor=1'), '--semi-space-growth-factor=1');
  assert.equal(youngGenerationFlag(['--min-semi-space-size=8'], ''), '--min-semi-space-size=8');
});

/** A release driven by hand: utilization and size are what the test says, collections are counted. */
function driven(size: number, shrinksTo = size): { r: YoungGenerationRelease; busy: { v: number }; now: { size: number }; calls: () => number } {
  const busy = { v: 0 };
  const now = { size };
  let calls = 0;
  const r = new YoungGenerationRelease(() => { calls++; now.size = shrinksTo; return true; }, () => now.size, () => busy.v);
  return { r, busy, now, calls: () => calls };
}

test('YoungGenerationRelease: one minor collection after two quiet seconds, none while busy or when the young generation is small', () => {
  const grown = driven(32 * MiB, 1 * MiB);
  grown.busy.v = 0.5;
  for (let i = 0; i < 10; i++) grown.r.tick();
  assert.equal(grown.calls(), 0, 'a busy event loop is never interrupted');
  grown.busy.v = 0.01;
  grown.r.tick();
  assert.equal(grown.calls(), 0, 'one quiet second is not enough');
  grown.r.tick();
  assert.equal(grown.calls(), 1);
  assert.deepEqual([grown.r.attempts, grown.r.released], [1, 1]);
  for (let i = 0; i < 10; i++) grown.r.tick();
  assert.equal(grown.calls(), 1, 'given back: nothing more to do');

  const small = driven(1 * MiB);
  for (let i = 0; i < 10; i++) small.r.tick();
  assert.equal(small.calls(), 0, 'a young generation at its start size is left alone');
});

test('YoungGenerationRelease: while V8 keeps it grown, it asks again every two quiet seconds, then every 30 after five tries', () => {
  const stuck = driven(32 * MiB); // V8 declines to shrink (its allocation rate still looks high)
  for (let i = 0; i < 10; i++) stuck.r.tick();
  assert.equal(stuck.calls(), 5);
  assert.equal(stuck.r.released, 0);
  for (let i = 0; i < 29; i++) stuck.r.tick();
  assert.equal(stuck.calls(), 5, 'backed off');
  stuck.r.tick();
  assert.equal(stuck.calls(), 6);
  stuck.busy.v = 0.9;
  stuck.r.tick();
  stuck.busy.v = 0;
  for (let i = 0; i < 29; i++) stuck.r.tick();
  assert.equal(stuck.calls(), 6, 'a busy second starts the quiet count again');
});

/**
 * A real V8 in a child process (the setting changes a process-wide V8 flag): a burst of
 * allocation, then quiet. Prints JSON lines: the young generation's size after the burst, and
 * whether the release gave it back within the ceiling.
 */
const CHILD = `
import { applyYoungGeneration, YoungGenerationRelease, youngGenerationBytes } from ${JSON.stringify(`${root}src/server/memory-release.ts`)};
const effect = applyYoungGeneration(process.argv.at(-1));
const release = new YoungGenerationRelease(undefined, undefined, () => 0);
// quiet until the young generation is back at its start size (loading this script grew it), as a gateway is after start
async function quiet() {
  const deadline = Date.now() + 60_000;
  while (youngGenerationBytes() > 4 * 1024 ** 2 && Date.now() < deadline) { release.tick(); await new Promise((r) => setTimeout(r, 250)); }
}
await quiet();
const before = youngGenerationBytes();
const keep = [];
for (let i = 0; i < 100; i++) for (let j = 0; j < 20000; j++) { const o = { a: j, b: 'x' + j }; if (j % 100 === 0) keep.push(o); }
const afterBurst = youngGenerationBytes();
await quiet();
console.log(JSON.stringify({ effect, before, afterBurst, end: youngGenerationBytes(), released: release.released, kept: keep.length }));
`;

async function child(mode: string, env: NodeJS.ProcessEnv = {}): Promise<{ effect: string; before: number; afterBurst: number; end: number; released: number }> {
  const p = trackGroup(spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, mode], {
    cwd: root, detached: true, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
  }));
  try {
    let out = '';
    p.stdout!.on('data', (c) => (out += c));
    const code = await new Promise((r) => p.once('exit', r));
    assert.equal(code, 0, `child (${mode}) exited ${code}`);
    return JSON.parse(out.trim().split('\n').pop()!);
  } finally {
    await stopGroup(p);
  }
}

test('real V8: `grow` lets a burst grow the young generation and a quiet process gets it back; `small` keeps it small; Node\'s own flag wins', { timeout: 180_000 }, async () => {
  const grow = await child('grow');
  assert.ok(grow.before <= 4 * MiB, `quiet before the burst (${grow.before} B)`);
  assert.ok(grow.afterBurst > 8 * MiB, `a burst grows it (${grow.afterBurst} B)`);
  assert.ok(grow.end <= 4 * MiB, `given back once quiet (${grow.end} B)`);
  assert.ok(grow.released >= 1);

  const small = await child('small');
  assert.ok(small.afterBurst <= 4 * MiB, `small: ${small.afterBurst} B after the burst`);
  assert.match(small.effect, /^small/);

  const overridden = await child('small', { NODE_OPTIONS: '--max-semi-space-size=8' });
  assert.match(overridden.effect, /--max-semi-space-size=8/);
  assert.ok(overridden.afterBurst > 4 * MiB, `Node's flag, not the setting, sized it (${overridden.afterBurst} B)`);
  assert.ok(overridden.end <= 4 * MiB, 'and a quiet process still gets it back');
});
