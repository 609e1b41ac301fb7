// `serve --workers`: what docs/operations.md promises when workers die, with real cluster workers:
// /stats/machine names a worker that does not answer, a crashed worker is replaced 1 s later,
// and more than 5 crashes in 30 s stop everything (exit 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { getJson, startGateway, type GatewayProcess } from '../helpers/scale-gateway.js';

// three processes starting through tsx take long on a busy machine
const READY_MS = 120_000;

/** The primary's cluster workers (not other children, such as tsx's esbuild service). */
function childrenOf(pid: number): number[] {
  let pids: number[];
  try {
    pids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
  return pids.filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('serve');
    } catch {
      return false;
    }
  });
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const workersLine = (g: GatewayProcess): { pids: number[] } => JSON.parse(g.stdout.split('\n').find((l) => l.startsWith('{"workers"'))!).workers;

test('a stopped worker is named missing in /stats/machine; a crashed one is replaced and answers again', { timeout: 300_000 }, async () => {
  const g = await startGateway(0, ['--workers', '2'], {}, READY_MS);
  let stopped: number | undefined;
  try {
    const [, second] = workersLine(g).pids;
    assert.deepEqual(childrenOf(g.pid).sort(), workersLine(g).pids.slice().sort(), 'the workers are the primary\'s children');
    const before = (await getJson(g.port, '/stats/machine')).body;
    assert.deepEqual(before.workers, { expected: 2, answered: 2, missing: [] });

    // a worker that cannot answer (stopped): the live one still answers, naming it missing
    process.kill(second, 'SIGSTOP');
    stopped = second;
    const partial = (await getJson(g.port, '/stats/machine')).body;
    assert.deepEqual(partial.workers, { expected: 2, answered: 1, missing: [1] });
    assert.deepEqual(partial.perWorker.map((w: { index: number }) => w.index), [0]);
    process.kill(second, 'SIGCONT');
    stopped = undefined;

    // a crash: the primary logs it and forks a replacement with the same index
    process.kill(second, 'SIGKILL');
    await until(() => /worker exited unexpectedly; starting a replacement in 1 s/.test(g.stderr), 30_000, 'the crash log line');
    assert.match(g.stderr, /"worker":1,"pid":\d+,"code":null,"signal":"SIGKILL"/);
    let after: any;
    await until(async () => {
      after = (await getJson(g.port, '/stats/machine')).body;
      return after.workers?.answered === 2;
    }, READY_MS, 'the replacement to answer');
    assert.deepEqual(after.workers, { expected: 2, answered: 2, missing: [] });
    const replacement = after.perWorker.find((w: { index: number }) => w.index === 1).pid;
    assert.notEqual(replacement, second);
    assert.ok(childrenOf(g.pid).includes(replacement));
    assert.equal(g.alive, true);
  } finally {
    if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
    assert.equal(await g.stop('SIGTERM', 30_000), 0, g.stderr.slice(-1000));
  }
});

test('more than 5 worker crashes in 30 s stop the primary with exit code 1', { timeout: 300_000 }, async () => {
  const g = await startGateway(0, ['--workers', '2'], {}, READY_MS);
  try {
    const killed = new Set<number>();
    // kill every worker as soon as it exists, replacements included, until the primary gives up
    await until(() => {
      if (!g.alive) return true;
      for (const pid of childrenOf(g.pid)) {
        if (killed.has(pid)) continue;
        killed.add(pid);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      return false;
    }, 60_000, 'the primary to stop');
    assert.equal(await g.exited, 1);
    assert.match(g.stderr, /workers keep crashing; stopping/);
    assert.match(g.stderr, /"crashes":6,"windowMs":30000/);
    // crashes 1-5 are each answered with a replacement; the 6th stops everything instead
    assert.equal(g.stderr.match(/starting a replacement in 1 s/g)?.length, 5);
    assert.ok(killed.size >= 6, `${killed.size} workers killed`);
  } finally {
    await g.stop('SIGKILL');
  }
});
