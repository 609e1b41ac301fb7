import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnoseRun } from '../../src/doctor/diagnose-run.js';
import type { FailureBucket, RunEvidence } from '../../src/doctor/run-evidence.js';

// Recorded-shape evidence (the real reproductions are in test/serial/diagnosis-ground-truth.test.ts, against the real floodgate bench);
// these pin the wording and the attribution order of each rule.
function evidence(failures: FailureBucket[], delta: Record<string, number>, extra: Partial<RunEvidence> = {}): RunEvidence {
  const failed = failures.reduce((s, b) => s + b.count, 0);
  return {
    target: { url: 'ws://127.0.0.1:8080/', host: '127.0.0.1', port: 8080, local: true },
    startedAt: '2026-11-22T19:00:00Z',
    durationMs: 120_000,
    attempts: 12_000,
    successes: 12_000 - failed,
    failures,
    kernel: { before: {}, after: delta, delta },
    socketStates: { before: {}, peak: {}, after: {} },
    generator: { processes: 1, sourceIps: ['127.0.0.1'] },
    ...extra,
  };
}

const bucket = (kind: FailureBucket['kind'], count: number, side: FailureBucket['side'] = 'server'): FailureBucket => ({
  kind, phase: kind.split('.')[0] as FailureBucket['phase'], side, count, example: '',
});

test('accept-queue overflow reads like the issue example', () => {
  const d = diagnoseRun(evidence([bucket('upgrade.timeout', 2_220)], { 'TcpExt.ListenOverflows': 2_231, 'TcpExt.ListenDrops': 2_231 }, {
    listener: { backlog: 128, somaxconn: 4096, maxAcceptQueue: 129 },
  }));
  assert.equal(d.headline, '2,220 of 12,000 handshakes failed.');
  assert.equal(d.causes.length, 1);
  assert.equal(d.causes[0].id, 'accept-queue-overflow');
  assert.equal(d.causes[0].failures, 2_220);
  // sized from the attempts in flight (129 queued + 2,220 that waited = 2,349 → 3,072), not from the overflows
  assert.match(d.text, /The kernel counted 2,231 ListenOverflows during the run and the listener's backlog is 128 \(somaxconn 4,096\): accept-queue overflow\. Fix: have the server listen with backlog ≥ 3072 \(Node: server\.listen\(\{ port, backlog: 3072 \}\)/);
  assert.ok(d.causes[0].evidence.includes('sized from the attempts in flight: the queue held 129 (backlog 128) + 2,220 more waited for a SYN retransmit or timed out = 2,349 → 2,349 in flight, rounded up to 3,072. ListenOverflows (2,231) also count each retransmitted SYN, so they overstate the burst'), d.causes[0].evidence.join('\n'));
  const gw = diagnoseRun({ ...evidence([bucket('upgrade.timeout', 2_220)], { 'TcpExt.ListenOverflows': 2_231 }, { listener: { backlog: 128, somaxconn: 4096, maxAcceptQueue: 129 } }), floodgate: true });
  assert.match(gw.causes[0].fix!, /^listen with backlog ≥ 3072 \(FLOODGATE_BACKLOG=3072, or floodgate serve --backlog 3072/);
});

test('overflows without slow or failed attempts of this run are only a note (other traffic)', () => {
  const d = diagnoseRun(evidence([], { 'TcpExt.ListenOverflows': 40 }));
  assert.equal(d.causes.length, 0);
  assert.equal(d.headline, 'All 12,000 handshakes succeeded.');
  assert.match(d.notes[0], /another listener/);
});

test('each failure is attributed once, in rule order', () => {
  const d = diagnoseRun(evidence([
    bucket('connect.ECONNREFUSED', 3),
    bucket('connect.EADDRNOTAVAIL', 5, 'generator'),
    bucket('connect.EMFILE', 7, 'generator'),
    bucket('upgrade.status_503', 11),
    bucket('upgrade.status_401', 2),
    bucket('connect.ETIMEDOUT', 13),
    bucket('handshake.bad_accept', 1),
  ], {}, { generator: { processes: 1, sourceIps: ['127.0.0.1'], portRange: [32768, 60999], timeWaitToTarget: 28_000 } }));
  const byId = Object.fromEntries(d.causes.map((c) => [c.id, c.failures]));
  assert.deepEqual(byId, {
    'nothing-listening': 3, 'generator-fds': 7, 'client-ports': 5, 'application-admission': 11,
    // a connect timeout while no queue here dropped anything: the SYN was lost, the server's speed cannot delay a TCP handshake
    'http-status': 2, 'syn-loss': 13, unexplained: 1,
  });
  assert.deepEqual(d.causes.map((c) => c.failures), [13, 11, 7, 5, 3, 2, 1], 'ordered by the failures each explains');
  assert.equal(d.unexplained, 1);
  const ports = d.causes.find((c) => c.id === 'client-ports')!;
  assert.match(ports.verdict, /≈470 new connections\/s/);
});

test('server fd limit: early closes while the server sat at its hard limit', () => {
  const d = diagnoseRun(evidence([bucket('upgrade.closed', 60)], { 'TcpExt.ListenOverflows': 0 }, {
    server: { pid: 42, fdLimit: 64, peakFds: 64, fdsAtEnd: 64 },
  }));
  assert.equal(d.causes[0].id, 'server-fds');
  assert.match(d.causes[0].verdict, /hard limit of 64: server fd limit/);
});

test('SYN queue full with cookies off, cookies answering a burst, kernel TCP memory', () => {
  const syn = diagnoseRun(evidence([bucket('connect.ETIMEDOUT', 9)], { 'TcpExt.TCPReqQFullDrop': 30 }, { settings: { tcpSyncookies: 0 } }));
  assert.equal(syn.causes[0].id, 'syn-queue-overflow');
  assert.match(syn.causes[0].verdict, /tcp_syncookies is 0: SYN-queue overflow/);
  const cookies = diagnoseRun(evidence([], { 'TcpExt.SyncookiesSent': 300 }));
  assert.equal(cookies.causes[0].id, 'syncookies');
  const mem = diagnoseRun(evidence([bucket('session.ECONNRESET', 4)], { 'TcpExt.TCPAbortOnMemory': 4 }));
  assert.equal(mem.causes[0].id, 'kernel-tcp-memory');
  assert.equal(mem.causes[0].failures, 4);
});

test('a queue never seen full adds a caveat (the overflows may be another listener\'s)', () => {
  const d = diagnoseRun(evidence([bucket('connect.ETIMEDOUT', 50)], { 'TcpExt.ListenOverflows': 60 }, {
    listener: { backlog: 4096, somaxconn: 4096, maxAcceptQueue: 3 },
  }));
  assert.equal(d.causes[0].id, 'accept-queue-overflow');
  assert.ok(d.causes[0].evidence.some((e) => /never seen full/.test(e)));
  assert.match(d.causes[0].fix!, /already deep enough for the 53 attempts in flight, so accept\(\) was too slow/);
});

test('nothing failed but the kernel dropped SYNs and clients waited for retransmits: the headline says so', () => {
  const d = diagnoseRun(evidence([], { 'TcpExt.ListenOverflows': 40_389, 'TcpExt.ListenDrops': 40_389 }, {
    connectLatencyMs: { p50: 1_100, p99: 4_300, max: 4_650, atOrAboveOneSecond: 9_200 },
    listener: { backlog: 511, somaxconn: 4096, maxAcceptQueue: 512 },
  }));
  assert.equal(d.failed, 0);
  assert.equal(d.headline, 'All 12,000 handshakes succeeded, but not cleanly: accept-queue-overflow.');
  assert.match(d.causes[0].verdict, /No attempt failed, but 9,200 connects waited for a SYN retransmit/);
});

test('a server too slow to read requests: its early closes count with the timeouts, not as unexplained', () => {
  const d = diagnoseRun(evidence([
    bucket('upgrade.timeout', 39_294),
    bucket('upgrade.ECONNRESET', 29_302),
    bucket('upgrade.closed', 10_199),
  ], { 'TcpExt.ListenOverflows': 0 }));
  assert.deepEqual(d.causes.map((c) => [c.id, c.failures]), [['slow-server', 78_795]]);
  assert.equal(d.unexplained, 0);
  assert.match(d.causes[0].verdict, /39,294 attempts timed out .* Another 39,501 were closed or reset before the upgrade answer/);
});

test('early closes without timeouts stay unexplained (they may be the server\'s fd limit)', () => {
  const d = diagnoseRun(evidence([bucket('upgrade.closed', 12)], {}));
  assert.deepEqual(d.causes.map((c) => c.id), ['unexplained']);
  assert.match(d.causes[0].verdict, /pass --server-pid/);
});

const series = (rows: [number, number, number, number][]): RunEvidence['series'] => rows.map(([t, attempts, successes, failures]) => ({ t, attempts, successes, failures }));

test('a server that accepts and never answers: no-upgrade-answer, not slow-server', () => {
  const d = diagnoseRun(evidence([bucket('upgrade.timeout', 40)], {}, {
    attempts: 40, successes: 0,
    connectLatencyMs: { p50: 0.4, p99: 2, max: 3, atOrAboveOneSecond: 0 },
    socketStates: { before: {}, peak: { ESTABLISHED: 80 }, after: {} },
  }));
  assert.deepEqual(d.causes.map((c) => [c.id, c.failures]), [['no-upgrade-answer', 40]]);
  assert.match(d.causes[0].verdict, /accepted and held, but the server never answered the upgrade request: no-upgrade-answer/);
});

test('closes after a successful upgrade: post-upgrade-close with the codes seen; the headline does not call them failed handshakes', () => {
  const d = diagnoseRun(evidence([
    { ...bucket('frames.close_1001', 20), example: 'server sent close 1001 "shutting down"' },
    bucket('session.ECONNRESET', 10),
  ], {}, { attempts: 40, successes: 10 }));
  assert.equal(d.headline, '30 of 40 connections failed after a successful upgrade.');
  assert.deepEqual(d.causes.map((c) => [c.id, c.failures]), [['post-upgrade-close', 30]]);
  assert.match(d.causes[0].verdict, /Seen: close 1001 = going away \(the server is shutting down or restarting\): 20; ECONNRESET: 10\./);
});

test('a vanished --server-pid is named first, with the time, and explains the refusals and drops after it', () => {
  const d = diagnoseRun(evidence([bucket('connect.ECONNREFUSED', 30), bucket('session.unexpected_close', 20)], {}, {
    attempts: 60, successes: 10, server: { pid: 4242, fdLimit: 1024, peakFds: 40, exitedAtMs: 2_300 },
  }));
  assert.deepEqual(d.causes.map((c) => [c.id, c.failures]), [['server-exited', 50]]);
  assert.match(d.causes[0].verdict, /^The server process \(pid 4242\) exited at t=2\.3 s during the run/);
});

test('server fd limit inferred without --server-pid: first N held, then every attempt closed before an answer; ranked above the overflows', () => {
  const d = diagnoseRun(evidence([bucket('upgrade.closed', 900), bucket('connect.ETIMEDOUT', 3)], { 'TcpExt.ListenOverflows': 400 }, {
    attempts: 1000, successes: 97,
    order: { lastOpenMs: 300, firstEarlyCloseMs: 250 },
    connectLatencyMs: { p50: 1, p99: 1100, max: 1200, atOrAboveOneSecond: 20 },
    listener: { backlog: 511, somaxconn: 4096, maxAcceptQueue: 512 },
  }));
  assert.deepEqual(d.causes.map((c) => [c.id, c.failures]), [['unexplained', 900], ['accept-queue-overflow', 3]], 'a timeout among them breaks the pattern');
  const clean = diagnoseRun(evidence([bucket('upgrade.closed', 900)], { 'TcpExt.ListenOverflows': 400 }, {
    attempts: 1000, successes: 100,
    order: { lastOpenMs: 300, firstEarlyCloseMs: 250 },
    connectLatencyMs: { p50: 1, p99: 1100, max: 1200, atOrAboveOneSecond: 20 },
    listener: { backlog: 511, somaxconn: 4096, maxAcceptQueue: 512 },
  }));
  assert.deepEqual(clean.causes.map((c) => [c.id, c.failures]), [['server-fds', 900], ['accept-queue-overflow', 0]]);
  assert.match(clean.causes[0].verdict, /^The first 100 upgrades succeeded and stayed open; after that every attempt \(900\) was accepted and closed before any answer/);
  assert.match(clean.causes[0].fix!, /must grow by at least 900/);
  assert.match(clean.causes[1].verdict, /None of this run's failures are from it, but 20 connects waited/);
  assert.doesNotMatch(clean.text, /No attempt failed/);
});

test('a periodically stalled loop: event-loop-stall from the series, confirmed by the server burning a core', () => {
  const rows = series([[1, 20, 20, 0], [2, 20, 0, 0], [3, 20, 0, 0], [4, 20, 0, 0], [5, 20, 80, 0], [6, 20, 0, 0], [7, 20, 0, 0], [8, 20, 0, 0], [9, 0, 80, 0]]);
  const cpu = [{ fromMs: 0, toMs: 9000, cores: 0.75, state: 'R' }];
  const d = diagnoseRun(evidence([], {}, { attempts: 180, successes: 180, series: rows, server: { pid: 7, fdLimit: 1024, peakFds: 200, cpu } }));
  assert.deepEqual(d.causes.map((c) => c.id), ['event-loop-stall']);
  assert.match(d.causes[0].verdict, /No upgrade completed for 3 s, 3 s while attempts were waiting, and progress resumed after each gap, while the server kept running \(state R, 75% of a core\): event-loop stall/);
  const idle = diagnoseRun(evidence([], {}, { attempts: 180, successes: 180, series: rows, server: { pid: 7, cpu: [{ fromMs: 0, toMs: 9000, cores: 0.01, state: 'S' }] } }));
  assert.deepEqual(idle.causes, [], 'an idle server is waiting on something else');
  assert.match(idle.notes[0], /waiting on something/);
  const steady = diagnoseRun(evidence([], {}, { attempts: 180, successes: 180, series: series([[1, 60, 60, 0], [2, 60, 60, 0], [3, 60, 60, 0]]) }));
  assert.deepEqual(steady.causes, []);
});

test('resets that equal SyncookiesFailed get their rule; 5xx are their own cause', () => {
  const d = diagnoseRun(evidence([bucket('connect.ECONNRESET', 41), bucket('upgrade.status_500', 5)], { 'TcpExt.SyncookiesFailed': 40, 'TcpExt.SyncookiesSent': 900 }));
  assert.deepEqual(d.causes.map((c) => [c.id, c.failures]), [['syncookies-failed', 41], ['http-5xx', 5]]);
});

test('counters are labelled host-wide unless the run had a namespace of its own', () => {
  const ev = evidence([bucket('upgrade.timeout', 50)], { 'TcpExt.ListenOverflows': 60 }, { listener: { backlog: 16, somaxconn: 16, maxAcceptQueue: 17 } });
  const host = diagnoseRun(ev);
  assert.match(host.causes[0].evidence[0], /\(host-wide\)$/);
  assert.ok(host.causes[0].evidence.some((e) => /backlog equals net\.core\.somaxconn \(16\): the server probably asked for more and was capped/.test(e)));
  assert.match(host.causes[0].fix!, /raise net\.core\.somaxconn from 16 to ≥ 128/);
  assert.match(host.notes.at(-1)!, /host-wide.*ip netns exec fg floodgate bench/);
  const ns = diagnoseRun({ ...ev, kernel: { ...ev.kernel, scope: 'netns' } });
  assert.match(ns.causes[0].evidence[0], /\(this network namespace only\)$/);
  assert.equal(ns.notes.length, 0);
});

test('slow connects with nothing dropped here: syn-loss, worded for a local target and for one whose counters are elsewhere', () => {
  const local = diagnoseRun(evidence([bucket('connect.ETIMEDOUT', 2)], { 'TcpExt.TCPSynRetrans': 90 }, {
    connectLatencyMs: { p50: 1_010, p99: 3_100, max: 3_200, atOrAboveOneSecond: 40 },
  }));
  assert.deepEqual(local.causes.map((c) => [c.id, c.failures]), [['syn-loss', 2]]);
  assert.match(local.causes[0].verdict, /^42 connects waited for SYN retransmits or timed out while no queue on this machine dropped anything .*: the SYNs or SYN-ACKs were lost on the way — SYN loss/);
  const remote = diagnoseRun({ ...evidence([], {}, { connectLatencyMs: { p50: 1_010, p99: 3_100, max: 3_200, atOrAboveOneSecond: 40 } }), target: { url: 'ws://10.0.0.5:8080/', host: '10.0.0.5', port: 8080, local: false } });
  assert.match(remote.causes[0].verdict, /SYN loss — 10\.0\.0\.5 is not on this machine/);
  assert.match(remote.causes[0].fix!, /^on the server, run floodgate doctor --port 8080/);
});

test('slow connects while the CPUs\' input queues dropped packets: input-queue-drop, not syn-loss; beside a listener overflow, a note', () => {
  const slow = { connectLatencyMs: { p50: 1_010, p99: 3_100, max: 3_200, atOrAboveOneSecond: 4_272 } };
  const d = diagnoseRun(evidence([bucket('connect.ETIMEDOUT', 3)], { 'Softnet.Dropped': 5_100, 'Softnet.TimeSqueeze': 12, 'TcpExt.TCPSynRetrans': 4_300 }, {
    ...slow, settings: { netdevMaxBacklog: 1000 }, generator: { ...evidence([], {}).generator, peakInFlight: 15_000 },
  }));
  assert.deepEqual(d.causes.map((c) => [c.id, c.failures]), [['input-queue-drop', 3]]);
  assert.match(d.causes[0].verdict, /^4,275 connects waited .* input queues dropped 5,100 packets \(net\.core\.netdev_max_backlog = 1,000\) .*input-queue overflow/);
  assert.ok(d.causes[0].evidence.some((e) => /softnet_stat dropped \+5,100, time_squeeze \+12 \(host-wide/.test(e)));
  assert.match(d.causes[0].fix!, /net\.core\.netdev_max_backlog \(now 1,000\) to ≥ 15,360/);
  // no drops in the input queues: the old verdict stands
  assert.equal(diagnoseRun(evidence([bucket('connect.ETIMEDOUT', 3)], {}, slow)).causes[0].id, 'syn-loss');
  // drops, but nothing waited in this run: another program's traffic, no cause
  assert.equal(diagnoseRun(evidence([], { 'Softnet.Dropped': 40 })).causes.length, 0);
  // the listener overflowed too: its rule keeps the failures, the input drops are a note
  const both = diagnoseRun(evidence([bucket('connect.ETIMEDOUT', 3)], { 'TcpExt.ListenOverflows': 900, 'Softnet.Dropped': 70 }, slow));
  assert.equal(both.causes[0].id, 'accept-queue-overflow');
  assert.ok(both.notes.some((n) => /input queues also dropped 70 packets/.test(n)));
});
