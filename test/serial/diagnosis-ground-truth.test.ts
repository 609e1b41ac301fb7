// The diagnosis' ground truth: each case starts a deliberately faulty server of its own and the real
// `floodgate bench` (dist/cli/main.js) in a fresh network namespace, injects one known fault and
// checks the cause the bench result names, its exit code and the size of the fix — where a size is
// given, by running again with the suggested value and seeing the fault gone. Namespaces keep the
// kernel counters and the sysctls changed here (somaxconn, port range, tw_reuse) to the case.
// Bounded: tens to a few hundred connections, timeouts of a few seconds.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../src/loadgen/types.js';
import { Netns, sizeIn, stop } from '../doctor/helpers/ground-truth.js';
import { netnsAvailable } from '../doctor/helpers/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const skip = netnsAvailable() ? false : 'needs root and ip netns';
const open: Netns[] = [];
after(async () => {
  for (const ns of open) await ns.close();
});

function netns(): Netns {
  const ns = new Netns();
  open.push(ns);
  const bench = ns.bench.bind(ns);
  ns.bench = async (...args) => {
    const r = await bench(...args);
    verbose(r.result);
    return r;
  };
  return ns;
}

// FG_TEST_VERBOSE=1 prints each diagnosis as `doctor --run` would (the samples in docs/doctor.md come from here)
function verbose(r: BenchResult): void {
  if (!process.env.FG_TEST_VERBOSE) return;
  const d = r.diagnosis!;
  const lines = [d.headline, ...d.causes.flatMap((c) => ['', `• ${c.verdict}`, ...c.evidence.map((e) => `    ${e}`), ...(c.fix ? [`  Fix: ${c.fix}`] : [])]), ...d.notes.map((n) => `\nNote: ${n}`)];
  console.log(`----- ${r.target.url} exit ${r.exit?.code}\n${lines.join('\n')}`);
}
const ids = (r: BenchResult): string[] => r.diagnosis!.causes.map((c) => c.id);
const cause = (r: BenchResult, id: string) => {
  const c = r.diagnosis!.causes.find((x) => x.id === id);
  assert.ok(c, `no ${id} in: ${JSON.stringify(r.diagnosis, null, 1)}`);
  return c!;
};
const show = (r: BenchResult): string => JSON.stringify({ totals: r.totals, failures: r.failures, diagnosis: r.diagnosis, delta: r.evidence.kernel.delta }, null, 1);
// short timeouts keep every case to seconds; the faults show well inside them
const quick = ['--connect-timeout', '4s', '--handshake-timeout', '4s', '-w', '1'];

describe('diagnosis ground truth: real faults, real floodgate bench, one namespace per case', { skip }, () => {
  it('accept-queue overflow, burst: backlog 8 and a blocked loop; the suggested backlog holds the same burst', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ backlog: 8, blockOnFirstMs: 2000, mode: '101' });
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '100', '-d', '0s', ...quick]);
    await stop(srv.child);
    assert.equal(result.evidence.kernel.scope, 'netns');
    assert.equal(ids(result)[0], 'accept-queue-overflow', show(result));
    const c = cause(result, 'accept-queue-overflow');
    assert.match(c.verdict, /listener's backlog is 8 \(somaxconn 4,096\): accept-queue overflow/);
    assert.ok(c.evidence.some((e) => /\(this network namespace only\)$/.test(e)), c.evidence.join('\n'));
    assert.ok(c.evidence.some((e) => e.startsWith('sized from the attempts in flight')), c.evidence.join('\n'));
    const n = sizeIn(c.fix, /backlog ≥ (\d+)/);
    assert.ok(n >= 100 && n <= 128, `100 attempts in flight need 100..128, got ${n}`);
    assert.match(c.fix!, /Node: server\.listen\(\{ port, backlog: \d+ \}\)/, 'not a Floodgate gateway: the fix is in the server\'s terms');
    assert.equal(status, result.totals.failures > 0 ? 1 : 0);
    // ground truth for the size: the same burst against the same blocked server with that backlog
    const fixed = await ns.faultServer({ backlog: n, blockOnFirstMs: 2000, mode: '101' });
    const again = await ns.bench([`ws://127.0.0.1:${fixed.port}/`, '-c', '100', '-d', '0s', ...quick]);
    await stop(fixed.child);
    assert.equal(again.result.evidence.kernel.delta['TcpExt.ListenOverflows'] ?? 0, 0, show(again.result));
    assert.equal(again.result.totals.successes, 100);
    // the loop is still blocked for 2 s, so the run may be named a stall, but nothing overflows any more
    assert.ok(!ids(again.result).includes('accept-queue-overflow'), show(again.result));
    assert.equal(again.status, 0);
  });

  it('accept-queue overflow, slow ramp: 40/s into backlog 8 while the loop is blocked 1.5 s; the suggested backlog holds it', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ backlog: 8, blockOnFirstMs: 1500, mode: '101' });
    const args = (port: number) => [`ws://127.0.0.1:${port}/`, '-c', '60', '--rate', '40/s', '-d', '0s', ...quick];
    const { result } = await ns.bench(args(srv.port));
    await stop(srv.child);
    const c = cause(result, 'accept-queue-overflow');
    const n = sizeIn(c.fix, /backlog ≥ (\d+)/);
    assert.ok(n >= 32 && n <= 64, `about 60 arrive during the block (40/s × 1.5 s), got ${n}: ${c.evidence.join('\n')}`);
    const fixed = await ns.faultServer({ backlog: n, blockOnFirstMs: 1500, mode: '101' });
    const again = await ns.bench(args(fixed.port));
    await stop(fixed.child);
    assert.equal(again.result.evidence.kernel.delta['TcpExt.ListenOverflows'] ?? 0, 0, show(again.result));
    assert.equal(again.result.totals.successes, 60);
  });

  it('somaxconn cap: the server asks for 1024, somaxconn 8 cuts it; the fix raises somaxconn to the right size', async () => {
    const ns = netns();
    ns.sysctl('net.core.somaxconn=8');
    const srv = await ns.faultServer({ backlog: 1024, blockOnFirstMs: 2000, mode: '101' });
    const { result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '100', '-d', '0s', ...quick]);
    await stop(srv.child);
    const c = cause(result, 'accept-queue-overflow');
    assert.ok(c.evidence.some((e) => /backlog equals net\.core\.somaxconn \(8\): the server probably asked for more and was capped/.test(e)), c.evidence.join('\n'));
    const n = sizeIn(c.fix, /raise net\.core\.somaxconn from 8 to ≥ (\d+)/);
    assert.ok(n >= 100 && n <= 128, `got ${n}`);
    ns.sysctl(`net.core.somaxconn=${n}`);
    const fixed = await ns.faultServer({ backlog: 1024, blockOnFirstMs: 2000, mode: '101' });
    const again = await ns.bench([`ws://127.0.0.1:${fixed.port}/`, '-c', '100', '-d', '0s', ...quick]);
    await stop(fixed.child);
    assert.equal(again.result.evidence.kernel.delta['TcpExt.ListenOverflows'] ?? 0, 0, show(again.result));
  });

  it('server fd limit with --server-pid: named from its fd count; the suggested limit holds the run', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101' }, ['prlimit', '--nofile=48:48']);
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '80', '-d', '500ms', '--server-pid', String(srv.pid), ...quick]);
    await stop(srv.child);
    assert.equal(status, 1);
    assert.equal(ids(result)[0], 'server-fds', show(result));
    const c = cause(result, 'server-fds');
    assert.equal(c.failures, result.totals.failures, show(result));
    assert.match(c.verdict, /hard limit of 48: server fd limit/);
    const n = sizeIn(c.fix, /hard fd limit to ≥ (\d+)/);
    const own = result.evidence.server!.fdsAtStart!;
    assert.equal(n, 80 + own, c.fix);
    const fixed = await ns.faultServer({ mode: '101' }, ['prlimit', `--nofile=${n}:${n}`]);
    const again = await ns.bench([`ws://127.0.0.1:${fixed.port}/`, '-c', '80', '-d', '500ms', '--server-pid', String(fixed.pid), ...quick]);
    await stop(fixed.child);
    assert.equal(again.result.totals.successes, 80, show(again.result));
    assert.equal(again.status, 0);
  });

  it('server fd limit without --server-pid: inferred from the pattern (first N held, the rest closed before an answer)', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101' }, ['prlimit', '--nofile=48:48']);
    const { result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '80', '-d', '500ms', ...quick]);
    await stop(srv.child);
    assert.equal(ids(result)[0], 'server-fds', show(result));
    const c = cause(result, 'server-fds');
    assert.equal(c.failures, result.totals.failures);
    assert.match(c.verdict, new RegExp(`^The first ${result.totals.successes} upgrades succeeded and stayed open; .* inferred: pass --server-pid`));
    assert.match(c.fix!, new RegExp(`must grow by at least ${80 - result.totals.successes}`));
    assert.doesNotMatch(JSON.stringify(result.diagnosis), /No attempt failed/);
  });

  it('client port range: 16 ports for 24 held connections (EADDRNOTAVAIL); the fix names the range it needs', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101' }); // listens before the range narrows
    ns.sysctl('net.ipv4.ip_local_port_range=40000 40015');
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '24', '-d', '300ms', '--force', ...quick]);
    await stop(srv.child);
    assert.equal(status, 1);
    assert.deepEqual(ids(result), ['client-ports'], show(result));
    const c = cause(result, 'client-ports');
    assert.equal(c.side, 'generator');
    assert.equal(c.failures, 8);
    assert.match(c.verdict, /ephemeral ports toward 127\.0\.0\.1:\d+ were exhausted/);
    assert.match(c.fix!, /widen net\.ipv4\.ip_local_port_range to ≥ 24 ports \(this run wanted 24 at once, the range has 16/);
  });

  it('TIME_WAIT: earlier short connections hold the 16 ports; named as TIME_WAIT, and tcp_tw_reuse=1 lets the run through', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: 'silent' });
    ns.sysctl('net.ipv4.ip_local_port_range=40000 40015', 'net.ipv4.tcp_tw_reuse=0');
    // 16 connections closed by the client first: each leaves its port in TIME_WAIT for 60 s
    ns.exec([process.execPath, '-e', `
      const net = require('node:net'); let left = 16;
      for (let i = 0; i < 16; i++) { const s = net.connect(${srv.port}, '127.0.0.1', () => s.end()); s.on('close', () => { if (--left === 0) process.exit(0); }); }
      setTimeout(() => process.exit(1), 10000);`]);
    const closedAt = Date.now();
    const { result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '8', '-d', '300ms', ...quick, '--handshake-timeout', '1s']);
    const c = cause(result, 'client-ports');
    assert.equal(c.failures, 8, show(result));
    assert.match(c.verdict, /were held in TIME_WAIT by earlier connections \(16 of 16\)/);
    assert.match(c.fix!, /net\.ipv4\.tcp_tw_reuse=1 on the client \(outbound only; a port is reused (1 s|[\d,]+ ms \(net\.ipv4\.tcp_tw_reuse_delay\)) after/);
    ns.sysctl('net.ipv4.tcp_tw_reuse=1');
    // the kernel hands a TIME_WAIT port to a new connect only tcp_tw_reuse_delay (1 s by default)
    // after it closed; on a fast runtime the first run can end before that, so let the ports age
    let delay = 1000; // kernels before 6.13 have no tunable and wait a whole second
    try { delay = Number(ns.exec(['sysctl', '-n', 'net.ipv4.tcp_tw_reuse_delay']).trim()); } catch { /* older kernel */ }
    await new Promise((r) => setTimeout(r, Math.max(0, closedAt + delay + 1000 - Date.now())));
    const again = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '8', '-d', '300ms', ...quick, '--handshake-timeout', '1s']);
    await stop(srv.child);
    assert.equal(again.result.failures.filter((f) => f.kind === 'connect.EADDRNOTAVAIL').length, 0, show(again.result));
  });

  it('stalled event loop: blocked 3 s every 4 s, with --server-pid; named event-loop-stall with the server\'s CPU', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101', stallMs: 3000, stallEveryMs: 4000 });
    const { result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '140', '--rate', '20/s', '-d', '0s', '--server-pid', String(srv.pid), ...quick, '--handshake-timeout', '8s']);
    await stop(srv.child);
    const c = cause(result, 'event-loop-stall');
    assert.match(c.verdict, /while the server kept running \(state R, \d+% of a core\): event-loop stall/);
    assert.ok(!ids(result).includes('slow-server'), show(result));
  });

  it('stalled event loop without --server-pid: inferred from the series, since no connect was slow', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101', blockOnFirstMs: 3500 });
    const { result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '100', '--rate', '25/s', '-d', '0s', ...quick, '--handshake-timeout', '8s']);
    await stop(srv.child);
    assert.deepEqual(ids(result), ['event-loop-stall'], show(result));
    const c = cause(result, 'event-loop-stall');
    assert.ok(c.evidence.some((e) => e.startsWith('no --server-pid: inferred from the per-second series')), c.evidence.join('\n'));
  });

  it('SYN loss on a real link: server and bench in two namespaces joined by a veth pair, a tc policer drops most of a SYN burst', async () => {
    const server = netns();
    const client = netns();
    const link = client.linkTo(server);
    // a token bucket that passes ~20 packets at once and ~100/s after (this kernel has tbf, not netem):
    // a 100-connection burst loses most SYNs on the way, the way a policing link or middlebox does
    client.exec(['tc', 'qdisc', 'add', 'dev', link.clientDev, 'root', 'tbf', 'rate', '64kbit', 'burst', '1600', 'limit', '1600']);
    const srv = await server.faultServer({ mode: '101', host: link.serverIp });
    const { result } = await client.bench([`ws://${link.serverIp}:${srv.port}/`, '-c', '100', '-d', '0s', ...quick, '--connect-timeout', '10s', '--handshake-timeout', '10s']);
    await stop(srv.child);
    assert.ok(result.evidence.connectLatencyMs!.atOrAboveOneSecond > 0, show(result));
    assert.equal(ids(result)[0], 'syn-loss', show(result));
    const c = cause(result, 'syn-loss');
    assert.match(c.verdict, /SYN loss — 10\.211\.0\.1 is not on this machine \(or in another network namespace\)/);
    assert.match(c.fix!, new RegExp(`floodgate doctor --port ${srv.port}`));
    assert.ok(c.evidence.some((e) => /TcpExt\.TCPSynRetrans \+[1-9]/.test(e)), c.evidence.join('\n'));
  });

});

// Faults in the application, not in a kernel queue: nothing here depends on timing or on the
// machine's load, and each case has a namespace of its own, so they run side by side.
describe('diagnosis ground truth: application faults, side by side', { skip, concurrency: 4 }, () => {
  it('never answers the upgrade: no-upgrade-answer, not slow server', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: 'silent' });
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '20', '-d', '0s', ...quick, '--handshake-timeout', '1500ms']);
    await stop(srv.child);
    assert.equal(status, 1);
    assert.deepEqual(ids(result), ['no-upgrade-answer'], show(result));
    assert.equal(cause(result, 'no-upgrade-answer').failures, 20);
  });

  it('HTTP 5xx: every upgrade answered 500', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '500' });
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '20', '-d', '0s', ...quick]);
    await stop(srv.child);
    assert.equal(status, 1);
    assert.deepEqual(ids(result), ['http-5xx'], show(result));
    assert.match(cause(result, 'http-5xx').verdict, /^20 upgrades were answered with an HTTP 5xx error \(500\)/);
  });

  it('post-upgrade closes: half closed with 1001, half reset; the close codes are named and the headline says after the upgrade', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: 'close-after', closeAfterMs: 300 });
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '20', '-d', '1500ms', ...quick]);
    await stop(srv.child);
    assert.equal(status, 1);
    assert.deepEqual(ids(result), ['post-upgrade-close'], show(result));
    assert.equal(result.diagnosis!.headline, '20 of 20 connections failed after a successful upgrade.');
    const c = cause(result, 'post-upgrade-close');
    assert.match(c.verdict, /close 1001 = going away \(the server is shutting down or restarting\): 10/);
    assert.match(c.verdict, /(ECONNRESET|unexpected_close): 10/);
  });

  it('the server exits mid-run (--server-pid): server-exited at the time it vanished', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101', exitAfterFirstMs: 1200 });
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '60', '--rate', '20/s', '-d', '500ms', '--server-pid', String(srv.pid), ...quick]);
    await stop(srv.child);
    assert.equal(status, 1);
    assert.equal(ids(result)[0], 'server-exited', show(result));
    const c = cause(result, 'server-exited');
    assert.equal(c.failures, result.totals.failures, show(result));
    const t = result.evidence.server!.exitedAtMs!;
    assert.ok(t > 1200 && t < 6000, `exited at ${t} ms, 1.2 s after the first connection`);
    assert.ok(result.failures.some((f) => f.phase === 'session' || f.phase === 'frames'), 'held connections were dropped');
    assert.ok(result.failures.some((f) => f.kind === 'connect.ECONNREFUSED'), 'later attempts were refused');
    assert.match(c.verdict, new RegExp(`exited at t=${(t / 1000).toFixed(1)} s during the run`));
  });

  it('closed port: nothing-listening, exit 1', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101' });
    await stop(srv.child);
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '10', '-d', '0s', ...quick]);
    assert.equal(status, 1);
    assert.deepEqual(ids(result), ['nothing-listening'], show(result));
    assert.equal(cause(result, 'nothing-listening').failures, 10);
  });

  it('application admission on a Floodgate gateway: 503s, and the fix names Floodgate\'s own setting (welcome frame seen)', async () => {
    const ns = netns();
    const { child, line } = await ns.start([process.execPath, `${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--max-connections', '3', '--admission-timeout', '0']);
    const port = (JSON.parse(line) as { listen: { port: number } }).listen.port;
    const { status, result } = await ns.bench([`ws://127.0.0.1:${port}/`, '-c', '20', '-d', '300ms', ...quick]);
    await stop(child);
    assert.equal(status, 1);
    assert.equal(result.evidence.floodgate, true);
    assert.deepEqual(ids(result), ['application-admission'], show(result));
    assert.equal(result.totals.successes, 3);
    assert.match(cause(result, 'application-admission').fix!, /FLOODGATE_MAX_CONNECTIONS/);
  });

  it('generator fd limit: the bench runs under prlimit --nofile 100, forced past its pre-flight; named generator-side', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101' });
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '120', '-d', '300ms', '--force', ...quick], ['prlimit', '--nofile=100:100']);
    await stop(srv.child);
    assert.equal(status, 1);
    assert.equal(ids(result)[0], 'generator-fds', show(result));
    assert.equal(cause(result, 'generator-fds').side, 'generator');
  });

  it('a healthy server: no cause, exit 0', async () => {
    const ns = netns();
    const srv = await ns.faultServer({ mode: '101' });
    const { status, result } = await ns.bench([`ws://127.0.0.1:${srv.port}/`, '-c', '50', '-d', '300ms', '--server-pid', String(srv.pid), ...quick]);
    await stop(srv.child);
    assert.equal(status, 0, show(result));
    assert.equal(result.totals.successes, 50);
    assert.deepEqual(ids(result), []);
    assert.equal(result.diagnosis!.headline, 'All 50 handshakes succeeded.');
    assert.deepEqual(result.exit, { code: 0, reason: 'no connection failed' });
  });
});
