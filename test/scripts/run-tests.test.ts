// The test runner itself: a failing file must fail the run whatever the order the lanes finish in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnGroup } from '../helpers/spawn-group.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('a file that fails while the other lane is still running fails the run (exit 1, counted in the closing line)', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-runner-'));
  // lane 1 takes the slow passing file, lane 2 the fast failing one and finishes first
  writeFileSync(join(dir, 'a-slow-pass.test.ts'), `import { test } from 'node:test';\ntest('slow pass', async () => { await new Promise((r) => setTimeout(r, 3000)); });\n`);
  writeFileSync(join(dir, 'b-fast-fail.test.ts'), `import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('fast fail', () => { assert.equal(1, 2); });\n`);
  const p = spawnGroup(process.execPath, ['scripts/run-tests.mjs', '--concurrency=2'], {
    cwd: root,
    env: { ...process.env, FG_TEST_DIR: dir, FG_TEST_SKIP_BUILD: '1', CI: '' },
    name: 'run-tests',
  });
  try {
    const exit = await p.exited;
    assert.match(p.stdout, /^1 passed, 1 failed, 0 skipped \(2 files/m, p.tail());
    assert.equal(exit.code, 1, p.tail());
  } finally {
    await p.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
