import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnoseRun } from '../../src/doctor/diagnose-run.js';
import type { FailureBucket, RunEvidence } from '../../src/doctor/run-evidence.js';

// Recorded-shape evidence (the real reproductions are in test/serial/doctor-diagnose.test.ts);
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
  assert.match(d.text, /The kernel counted 2,231 ListenOverflows during the run and the listener's backlog is 128 \(somaxconn 4,096\): accept-queue overflow\. Fix: listen with backlog ≥ 2048 \(FLOODGATE_BACKLOG=2048\)/);
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
    'http-status': 2, 'slow-server': 13, unexplained: 1,
  });
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
  assert.match(d.causes[0].fix!, /already deep, so accept\(\) was too slow/);
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
