// Benchmark suites start redis-server and gateways in their own process groups; when a suite is
// killed from outside (SIGTERM, Ctrl-C, the runner's timeout) those must die with it. Tested with
// a suite-like script that starts a real redis-server (test/fixtures/bench/suite-with-redis.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain .mjs module without types
import { runSuite } from '../../benchmarks/lib/kill-started.mjs';
import { killGroup, spawnGroup } from '../helpers/spawn-group.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = 'test/fixtures/bench/suite-with-redis.ts';

/** Alive = in /proc and not a zombie (a killed orphan may wait as a zombie for init to reap it). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Waits (bounded, a ceiling for a busy machine) until `pid` no longer runs; false if it still does. */
async function gone(pid: number, ceilingMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + ceilingMs;
  while (running(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function pidsFrom(stdout: string): { pid: number; redis: number } | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith('{"pid"'));
  return line === undefined ? undefined : JSON.parse(line);
}

test('a suite killed with SIGTERM takes the redis-server it started with it (killStartedOnExit)', { timeout: 180_000 }, async () => {
  const suite = spawnGroup(process.execPath, ['--import', 'tsx', fixture, '--cleanup'], { cwd: root, name: 'suite' });
  let redis: number | undefined;
  try {
    await suite.waitFor(/"redis":\d+/, 90_000, 'the redis-server pid');
    redis = pidsFrom(suite.stdout)!.redis;
    assert.ok(running(redis), 'redis-server runs while the suite does');
    process.kill(suite.pid, 'SIGTERM'); // the suite only, as a runner or `kill` would
    const exit = await suite.exited;
    assert.deepEqual(exit, { code: 128 + 15, signal: null }, suite.tail());
    assert.ok(await gone(redis), `redis-server ${redis} outlived the suite`);
  } finally {
    if (redis !== undefined && running(redis)) killGroup(redis, 'SIGKILL');
    await suite.killNow();
  }
});

test('runSuite (the runner) stops a suite that ignores SIGTERM, with the redis-server it started', { timeout: 180_000 }, async () => {
  const abort = new AbortController();
  let pids: { pid: number; redis: number } | undefined;
  let out = '';
  const run = runSuite(['--import', 'tsx', fixture, '--ignore-sigterm'], {
    cwd: root, timeoutMs: 150_000, graceMs: 2000, signal: abort.signal,
    onStdout: (c: string) => {
      out += c;
      pids ??= pidsFrom(out);
      if (pids) abort.abort();
    },
  });
  try {
    const r = await run;
    assert.ok(pids, `the suite printed no pids: ${r.stdout}`);
    assert.deepEqual([r.stopped, r.status, r.signal], ['aborted', null, 'SIGKILL'], 'SIGTERM was ignored, so the group got SIGKILL');
    assert.ok(await gone(pids.redis), `redis-server ${pids.redis} outlived the suite`);
  } finally {
    abort.abort();
    for (const pid of [pids?.pid, pids?.redis]) if (pid !== undefined && running(pid)) killGroup(pid, 'SIGKILL');
  }
});

test('runSuite: past timeoutMs a suite is stopped and reported as such', { timeout: 120_000 }, async () => {
  const r = await runSuite(['-e', 'process.stdout.write("up\\n"); setTimeout(() => process.exit(0), 100_000)'], { cwd: root, timeoutMs: 1000, graceMs: 60_000 });
  assert.deepEqual([r.stopped, r.status, r.signal], ['timeout', null, 'SIGTERM']);
});
