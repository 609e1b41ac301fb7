// The four commands through the real CLI entry point (argv → output → exit code).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunEvidence } from '../../src/doctor/run-evidence.js';
import type { WatchTick } from '../../src/doctor/watch-sampler.js';
import { trackGroup } from '../helpers/spawn-group.js';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 30_000 });

test('doctor --json describes this machine and exits 0 without targets', () => {
  const r = run('doctor', '--json');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.snapshot.platform, 'linux');
  assert.equal(report.implications.maxNewConnectionsPerSecond, Math.floor(report.implications.usablePorts / 60));
  assert.ok(report.findings.some((f: { id: string }) => f.id === 'fds.per-process'));
});

test('doctor exits 1 when a target cannot be met, and names why', () => {
  const r = run('doctor', '--target-connections', '50000', '--target-rate', '2000/s', '--backlog', '1000000');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /ERROR A client can open only ≈\d+ new connections\/s to one destination/);
  assert.match(r.stdout, /Targets: CANNOT be met/);
});

test('doctor rejects bad input with a coded message naming the flag', () => {
  const r = run('doctor', '--target-rate', 'fast');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /FG_ERR_INVALID_CONFIG: `--target-rate` must be a rate like `2000\/s`/);
});

test('doctor --run reads a bench result and prints the diagnosis; a bad file is FG_ERR_RUN_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-doctor-'));
  try {
    const evidence: RunEvidence = {
      target: { url: 'ws://127.0.0.1:8080/', host: '127.0.0.1', port: 8080, local: true },
      startedAt: '2026-11-22T19:00:00Z', durationMs: 1000, attempts: 100, successes: 90,
      failures: [{ kind: 'connect.ECONNREFUSED', phase: 'connect', side: 'server', count: 10, example: 'connect ECONNREFUSED 127.0.0.1:8080' }],
      kernel: { before: {}, after: {}, delta: {} },
      socketStates: { before: {}, peak: {}, after: {} },
      generator: { processes: 1, sourceIps: [] },
    };
    writeFileSync(join(dir, 'result.json'), JSON.stringify({ summary: {}, evidence }));
    const r = run('doctor', '--run', join(dir, 'result.json'));
    assert.equal(r.status, 1, 'a named cause exits 1');
    assert.match(r.stdout, /^10 of 100 handshakes failed\./);
    assert.match(r.stdout, /nothing was listening/);
    const j = JSON.parse(run('doctor', '--run', join(dir, 'result.json'), '--json').stdout);
    assert.equal(j.causes[0].id, 'nothing-listening');
    writeFileSync(join(dir, 'clean.json'), JSON.stringify({ evidence: { ...evidence, successes: 100, failures: [] } }));
    const clean = run('doctor', '--run', join(dir, 'clean.json'));
    assert.equal(clean.status, 0, clean.stdout);
    assert.equal(clean.stdout.trim(), 'All 100 handshakes succeeded.');
    writeFileSync(join(dir, 'bad.json'), '{"hello":1}');
    const bad = run('doctor', '--run', join(dir, 'bad.json'));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /FG_ERR_RUN_FILE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('plan and tune print without changing anything', () => {
  const p = run('plan', '--users', '300000', '--active', '5%', '--bytes-per-connection', '180KB', '--memory', '512MB,2GB', '--overhead', '128MB', '--fd-limit', '20000');
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stdout, /instances: 7 × 2,184 = 15,288/);
  assert.match(p.stdout, /instances: 2 × 10,922 = 21,844/);
  const t = run('tune', '--backlog', '4096', '--json');
  assert.equal(t.status, 0, t.stderr);
  // a backlog of 4096 needs somaxconn, tcp_max_syn_backlog and netdev_max_backlog (the CPUs' input
  // queues a burst's SYNs pass first) of at least 4096: exactly those below it change
  const current = (name: string): number => Number(readFileSync(`/proc/sys/net/${name.replace(/^net\./, '').replaceAll('.', '/')}`, 'utf8').trim());
  const expected = ['net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog', 'net.core.netdev_max_backlog']
    .filter((name) => current(name) < 4096)
    .map((name) => ({ name, from: String(current(name)), to: '4096' }));
  assert.deepEqual(JSON.parse(t.stdout).changes.map((c: { name: string; from: string; to: string }) => ({ name: c.name, from: c.from, to: c.to })), expected);
});

test('watch --json --count 3 emits one line per tick with states on the port, counters and the pid\'s fds', async () => {
  const server = createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (server.address() as { port: number }).port;
  const child = trackGroup(spawn(process.execPath, ['--import', 'tsx', main, 'watch', '--json', '--count', '3', '--interval', '200ms', '--port', String(port), '--pid', String(process.pid), '--warn-at', '0%'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('exit', r));
  server.close();
  assert.equal(code, 0);
  const ticks = out.trim().split('\n').map((l) => JSON.parse(l) as WatchTick);
  assert.equal(ticks.length, 3);
  assert.deepEqual(ticks.map((t) => t.tick), [1, 2, 3]);
  assert.equal(ticks[0].states.LISTEN, 1);
  assert.equal(typeof ticks[0].counters.ListenOverflows, 'number');
  assert.equal(typeof ticks[0].counters.SoftnetDropped, 'number', 'the CPUs\' input-queue drops are watched too');
  assert.equal(ticks[2].process?.pid, process.pid);
  assert.ok((ticks[2].process?.fds ?? 0) >= 3, 'at least stdin, stdout and stderr');
  // any fd count is at or above a 0% warning, and a few dozen fds are far below the default 90% alarm
  assert.equal(ticks[2].process?.fdLevel, 'warn');
});

test('watch text view shows the marks', () => {
  const r = run('watch', '--count', '1', '--interval', '100ms', '--pid', String(process.pid), '--warn-at', '0%');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /TCP sockets/);
  assert.match(r.stdout, /ListenOverflows/);
  assert.match(r.stdout, /^ {2}fds +\d+ of [\d,]+ \(\d+\.\d%\) {2}WARN$/m);
});

test('watch --pid stops with a message when the process is gone, and refuses a pid that is not there', async () => {
  const missing = run('watch', '--pid', '4194303', '--count', '1');
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /FG_ERR_INVALID_CONFIG: `--pid` 4194303 is not a process this user can inspect/);
  // a process that exits while watched: the watch ends on its own instead of printing "(gone)" forever
  const target = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', main, 'watch', '--pid', String(target.pid), '--interval', '300ms', '--count', '400'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // the first tick is printed: now the watched process goes away
    child.stdout.once('data', () => target.kill('SIGKILL'));
    const kill = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(kill);
    assert.equal(code, 1, stderr);
    assert.match(stderr, new RegExp(`floodgate watch: process ${target.pid} is gone \\(exited or killed\\) at .*; stopping\\.`));
  } finally {
    target.kill('SIGKILL');
  }
});
