// Reproduces each failure cause for real on loopback, gathers the evidence a bench run records, and
// checks diagnoseRun's verdict. Everything runs inside a network namespace this test creates, so the
// kernel counters (per namespace) see only this test's traffic and the sysctls changed here
// (port range, tcp_tw_reuse) never touch the host.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { diagnoseRun } from '../../src/doctor/diagnose-run.js';
import type { RunEvidence } from '../../src/doctor/run-evidence.js';
import type { ProbeOptions } from '../doctor/helpers/evidence-probe.js';
import { createNetns, deleteNetns, inNetns, netnsAvailable, startWithFirstLine, stopChild } from '../doctor/helpers/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const faultServer = `${root}test/fixtures/doctor/fault-server.mjs`;
const probeCli = `${root}test/doctor/helpers/probe-cli.ts`;
const ns = `fgtest-${process.pid}`;
const skip = netnsAvailable() ? false : 'needs root and ip netns';
const children: ChildProcess[] = [];

before(() => {
  if (!skip) createNetns(ns);
});
after(async () => {
  for (const c of children) await stopChild(c);
  if (!skip) deleteNetns(ns);
});

async function startFaultServer(opts: Record<string, unknown>, prefix: string[] = []): Promise<{ port: number; pid: number; child: ChildProcess }> {
  const { child, line } = await startWithFirstLine(['ip', 'netns', 'exec', ns, ...prefix, process.execPath, faultServer, JSON.stringify(opts)]);
  children.push(child);
  const { port, pid } = JSON.parse(line) as { port: number; pid: number };
  assert.equal(pid, child.pid, 'ip netns exec and prlimit exec the server, so the pid is the server\'s');
  return { port, pid, child };
}

function runProbe(opts: Partial<ProbeOptions> & { port: number }, prefix: string[] = []): RunEvidence {
  const full: ProbeOptions = { host: '127.0.0.1', attempts: 40, concurrency: 40, timeoutMs: 3000, mode: 'upgrade', hold: true, ...opts };
  const out = inNetns(ns, [...prefix, process.execPath, '--import', 'tsx', probeCli, JSON.stringify(full)], { timeout: 60_000 });
  return JSON.parse(out) as RunEvidence;
}

test('accept-queue overflow: tiny backlog, blocked event loop', { skip }, async () => {
  const srv = await startFaultServer({ backlog: 4, blockMs: 3000, mode: '101' });
  const ev = runProbe({ port: srv.port, attempts: 60, concurrency: 60, timeoutMs: 1500, serverPid: srv.pid });
  await stopChild(srv.child);
  const d = diagnoseRun(ev);
  if (process.env.FG_TEST_VERBOSE) console.log(d.text);
  assert.equal(ev.listener?.backlog, 4, 'ss -ltn shows the effective backlog as Send-Q');
  assert.ok((ev.kernel.delta['TcpExt.ListenOverflows'] ?? 0) > 0, JSON.stringify(ev.kernel.delta));
  assert.ok(d.failed > 0, d.text);
  assert.equal(d.causes[0].id, 'accept-queue-overflow', d.text);
  assert.match(d.text, /ListenOverflows during the run and the listener's backlog is 4 \(somaxconn 4,096\): accept-queue overflow\. Fix: listen with backlog ≥ \d+/);
});

test('server fd limit: the server process runs under prlimit --nofile', { skip }, async () => {
  const srv = await startFaultServer({ mode: '101' }, ['prlimit', '--nofile=48:48']);
  const ev = runProbe({ port: srv.port, attempts: 80, concurrency: 80, timeoutMs: 3000, serverPid: srv.pid });
  await stopChild(srv.child);
  const d = diagnoseRun(ev);
  if (process.env.FG_TEST_VERBOSE) console.log(d.text);
  assert.equal(ev.server?.fdLimit, 48);
  assert.ok(ev.successes > 0 && ev.successes < 48, d.text);
  assert.equal(d.causes[0].id, 'server-fds', d.text);
  assert.equal(d.causes[0].failures, d.failed, d.text);
  assert.match(d.causes[0].verdict, /hard limit of 48: server fd limit/);
});

test('client ephemeral ports: one source IP, narrowed port range, no TIME_WAIT reuse', { skip }, async () => {
  inNetns(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=40000 40031', 'net.ipv4.tcp_tw_reuse=0']);
  try {
    const srv = await startFaultServer({ mode: 'silent' });
    const ev = runProbe({ port: srv.port, attempts: 60, concurrency: 1, timeoutMs: 2000, mode: 'connect-close', hold: false, localAddress: '127.0.0.1' });
    await stopChild(srv.child);
    const d = diagnoseRun(ev);
    if (process.env.FG_TEST_VERBOSE) console.log(d.text);
    assert.deepEqual(ev.generator.portRange, [40000, 40031]);
    assert.ok(ev.successes <= 32, d.text);
    assert.equal(d.causes[0].id, 'client-ports', d.text);
    assert.ok(d.causes[0].failures >= 28, d.text);
    assert.match(d.causes[0].verdict, /ephemeral ports toward 127\.0\.0\.1:\d+ were exhausted/);
  } finally {
    inNetns(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=32768 60999', 'net.ipv4.tcp_tw_reuse=2']);
  }
});

test('nothing listening: every attempt refused', { skip }, async () => {
  const srv = await startFaultServer({ mode: '101' });
  await stopChild(srv.child); // the port is now free and nothing listens on it
  const ev = runProbe({ port: srv.port, attempts: 10, concurrency: 10 });
  const d = diagnoseRun(ev);
  if (process.env.FG_TEST_VERBOSE) console.log(d.text);
  assert.equal(d.failed, 10);
  assert.deepEqual(d.causes.map((c) => c.id), ['nothing-listening']);
  assert.match(d.causes[0].verdict, /refused \(ECONNREFUSED\): nothing was listening/);
});

test('application admission: floodgate serve with a cap of 3 answers 503', { skip }, async () => {
  const { child, line } = await startWithFirstLine([
    'ip', 'netns', 'exec', ns, process.execPath, '--import', 'tsx', `${root}src/cli/main.ts`, 'serve',
    '--host', '127.0.0.1', '--port', '0', '--max-connections', '3', '--admission-timeout', '0',
  ]);
  children.push(child);
  const port = (JSON.parse(line) as { listen: { port: number } }).listen.port;
  const ev = runProbe({ port, attempts: 20, concurrency: 20, timeoutMs: 5000, serverPid: child.pid });
  await stopChild(child);
  const d = diagnoseRun(ev);
  if (process.env.FG_TEST_VERBOSE) console.log(d.text);
  assert.equal(ev.successes, 3, d.text);
  assert.deepEqual(d.causes.map((c) => c.id), ['application-admission'], d.text);
  assert.equal(d.causes[0].failures, 17);
  assert.match(d.causes[0].verdict, /answered HTTP 503 with Retry-After \d+ s while the kernel counters stayed clean: application admission/);
});

test('generator fd limit: the generator runs under prlimit --nofile', { skip }, async () => {
  const srv = await startFaultServer({ mode: '101' });
  const ev = runProbe({ port: srv.port, attempts: 120, concurrency: 120, timeoutMs: 3000 }, ['prlimit', '--nofile=80:80']);
  await stopChild(srv.child);
  const d = diagnoseRun(ev);
  if (process.env.FG_TEST_VERBOSE) console.log(d.text);
  assert.equal(ev.generator.fdLimitPerProcess, 80);
  assert.equal(d.causes[0].id, 'generator-fds', d.text);
  assert.equal(d.causes[0].side, 'generator');
});

test('doctor --pid reaches a listener in another network namespace (nsenter), watch reads its counters', { skip }, async () => {
  const { checkListener } = await import('../../src/doctor/check-listener.js');
  const { WatchSampler } = await import('../../src/doctor/watch-sampler.js');
  const srv = await startFaultServer({ backlog: 16, mode: '101' });
  try {
    const r = checkListener({ pid: srv.pid });
    assert.deepEqual(r.listeners.map((l) => [l.port, l.backlog]), [[srv.port, 16]]);
    const t = new WatchSampler({ pid: srv.pid, port: srv.port, warnAt: 0.7, alarmAt: 0.9 }).tick();
    assert.deepEqual(t.states, { LISTEN: 1 }, 'only the namespace\'s sockets');
  } finally {
    await stopChild(srv.child);
  }
});
