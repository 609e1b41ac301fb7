#!/usr/bin/env node
// Runs the test suite: builds dist/ (CLI tests spawn it), then test/**/*.test.ts in parallel,
// then test/serial/**/*.test.ts one at a time (they flood ports or the listen queue), and prints
// one combined closing line "N passed, N failed".
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2); // optional filters: substrings of test file paths

function collect(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

const all = collect(join(root, 'test')).filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const serial = all.filter((f) => f.startsWith('test/serial/'));
const parallel = all.filter((f) => !f.startsWith('test/serial/'));

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('build failed');
  process.exit(1);
}

const totals = { pass: 0, fail: 0, skipped: 0 };

function runGroup(files, concurrency) {
  if (files.length === 0) return Promise.resolve(0);
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=tap', `--test-concurrency=${concurrency}`, ...files],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FLOODGATE_TEST: '1' } },
    );
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      for (const [key, re] of [['pass', /^# pass (\d+)/m], ['fail', /^# fail (\d+)/m], ['skipped', /^# skipped (\d+)/m]]) {
        const m = tail.match(re);
        if (m) totals[key] += Number(m[1]);
      }
      resolve(code ?? 1);
    });
  });
}

const codeA = await runGroup(parallel, 2);
const codeB = await runGroup(serial, 1);
console.log(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(codeA !== 0 || codeB !== 0 || totals.fail > 0 || totals.pass === 0 ? 1 : 0);
