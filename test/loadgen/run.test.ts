import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { run } from '../../src/loadgen/index.js';
import { isFloodgateError } from '../../src/errors.js';
import { neverAcceptingServer, rawWsServer, resettingServer } from './fault-servers.js';

const kinds = (r: { failures: { kind: string; side: string; count: number }[] }): Record<string, string> =>
  Object.fromEntries(r.failures.map((f) => [f.kind, f.side]));

describe('run() against a plain ws server', () => {
  let wss: WebSocketServer;
  let port: number;
  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    port = (wss.address() as { port: number }).port;
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m.toString())));
  });
  after(() => wss.close());

  it('holds every connection, over two workers and source IPs, with echo latency and evidence', async () => {
    const ticks: unknown[] = [];
    const r = run({ url: `ws://127.0.0.1:${port}/`, connections: 120, rate: 400, durationMs: 1200, workers: 2, sourceIps: '127.0.0.2-127.0.0.4', publishRate: 5, tickMs: 300, thresholds: ['success_rate>=0.99'] });
    r.on('tick', (t) => ticks.push(t));
    const res = await r;
    assert.equal(res.schema, 'floodgate.bench/1');
    assert.equal(res.totals.attempts, 120);
    assert.equal(res.totals.successes, 120);
    assert.equal(res.failures.length, 0);
    assert.equal(res.totals.opened, 120);
    assert.equal(res.totals.peakOpen, 120);
    // publishing stops before the teardown, so an echo still in flight at the end may be lost
    assert.ok(res.totals.messagesReceived > 0 && res.totals.messagesReceived <= res.totals.messagesSent, JSON.stringify(res.totals));
    // every echo carries its send time, so every received message is one latency sample
    assert.equal(res.latencyMs.message.count, res.totals.messagesReceived);
    assert.equal(res.latencyMs.connect.count, 120);
    assert.equal(res.latencyMs.handshake.count, 120);
    // a connection opened late in the run may not have received anything before the stop
    assert.ok(res.latencyMs.firstMessage.count > 0 && res.latencyMs.firstMessage.count <= 120, `${res.latencyMs.firstMessage.count}`);
    assert.ok(ticks.length > 0);
    assert.equal(res.series.length, ticks.length, 'one series point per tick');
    // series points are per tick and never count more than the run did (on a loaded machine a
    // tick that not every worker reported is left out, so the sums can fall short: known gap)
    assert.ok(res.series.reduce((n, x) => n + x.attempts, 0) <= 120);
    assert.ok(res.series.reduce((n, x) => n + x.successes, 0) <= 120);
    assert.equal(res.series.reduce((n, x) => n + x.failures, 0), 0);
    assert.deepEqual(res.thresholds, [{ expression: 'success_rate>=0.99', metric: 'success_rate', actual: 1, ok: true }]);
    assert.equal(res.evidence.attempts, 120);
    assert.equal(res.evidence.successes, 120);
    assert.deepEqual(res.evidence.failures, []);
    assert.deepEqual(res.evidence.generator.sourceIps, ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    assert.equal(res.evidence.generator.processes, 2);
    // kernel counters are machine-wide (other processes connect too): at least our own 120 opens
    assert.ok(res.evidence.kernel.delta['Tcp.ActiveOpens'] >= 120, `ActiveOpens delta ${res.evidence.kernel.delta['Tcp.ActiveOpens']}`);
    assert.ok(res.evidence.kernel.delta['Tcp.PassiveOpens'] >= 120);
    // both ends of 120 loopback connections on the target port
    assert.equal(res.evidence.socketStates.peak.ESTABLISHED, 240);
    assert.deepEqual(res.diagnosis, { headline: 'All 120 handshakes succeeded.', causes: [], notes: [] });
  });
  it('without `workers`, a small run is held in this process: no worker process, the same results', async (t) => {
    // a server of its own: the previous run's last sockets on the shared port may still be closing,
    // and the evidence counts every socket of the target port (121 of 120 was seen on a busy machine)
    const own = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => own.once('listening', r));
    t.after(() => own.close());
    let pids: number[] | undefined;
    const r = run({ url: `ws://127.0.0.1:${(own.address() as { port: number }).port}/`, connections: 60, rate: 300, durationMs: 400, tickMs: 200 });
    r.once('workers', (p: number[]) => (pids = p));
    const res = await r;
    assert.deepEqual(pids, [], 'no worker process was forked');
    assert.equal(res.plan.inProcess, true);
    assert.equal(res.plan.workers, 1);
    assert.equal(res.totals.successes, 60);
    assert.equal(res.latencyMs.handshake.count, 60);
    assert.equal(res.evidence.socketStates.peak.ESTABLISHED, 120);
    assert.ok((res.evidence.socketStates.cpuMs ?? -1) >= 0, 'the sampling cost is reported');
    assert.deepEqual(res.diagnosis, { headline: 'All 60 handshakes succeeded.', causes: [], notes: [] });
  });
});

describe('run() classifies failures', () => {
  it('nothing listening → connect.ECONNREFUSED, server side', async () => {
    const res = await run({ url: 'tcp://127.0.0.1:1', connections: 10, durationMs: 0, workers: 1 });
    assert.equal(res.totals.successes, 0);
    assert.deepEqual(res.failures.map((f) => [f.kind, f.side, f.count, f.example]), [['connect.ECONNREFUSED', 'server', 10, 'connect ECONNREFUSED 127.0.0.1:1']]);
    assert.equal(res.diagnosis!.headline, '10 of 10 handshakes failed.');
    assert.deepEqual(res.diagnosis!.causes.map((c) => [c.id, c.side]), [['nothing-listening', 'server']]);
    assert.match(res.diagnosis!.causes[0].verdict, /^10 connection attempts to 127\.0\.0\.1:1 were refused \(ECONNREFUSED\)/);
  });

  it('a server that resets → ECONNRESET buckets with a raw example', async () => {
    const srv = await resettingServer();
    try {
      const res = await run({ url: `ws://127.0.0.1:${srv.port}/`, connections: 10, durationMs: 300, workers: 1 });
      assert.equal(res.totals.successes, 0);
      assert.equal(res.totals.failures, 10);
      // The reset lands after the TCP handshake; whether the client has already sent its upgrade
      // request by then (upgrade.*) or is still finishing connect() (connect.*) is a race.
      for (const f of res.failures) {
        assert.match(f.kind, /^(connect|upgrade)\.ECONNRESET$/);
        assert.equal(f.side, 'server');
        assert.match(f.example, /ECONNRESET/);
      }
      assert.equal(res.failures.reduce((n, f) => n + f.count, 0), 10);
    } finally {
      await srv.close();
    }
  });

  it('invalid UTF-8 and a bad close code → frames.* with the bytes', async () => {
    let n = 0;
    const srv = await rawWsServer((s) => {
      if (n++ % 2 === 0) s.write(Buffer.from([0x81, 0x02, 0xff, 0xfe]));
      else s.write(Buffer.from([0x88, 0x02, 0x03, 0xed])); // close 1005 is not allowed on the wire
    });
    try {
      const res = await run({ url: `ws://127.0.0.1:${srv.port}/`, connections: 10, durationMs: 500, workers: 1 });
      assert.deepEqual(
        res.failures.map((f) => [f.kind, f.side, f.count]).sort(),
        [['frames.bad_close_code_1005', 'server', 5], ['frames.invalid_utf8', 'server', 5]],
      );
      assert.match(res.failures.find((f) => f.kind === 'frames.invalid_utf8')!.example, /fffe/);
      assert.equal(res.totals.opened, 10);
    } finally {
      await srv.close();
    }
  });

  it('a server that closes with 4008 → frames.close_4008', async () => {
    const srv = await rawWsServer((s) => s.write(Buffer.from([0x88, 0x06, 0x0f, 0xa8, 0x62, 0x75, 0x73, 0x79])));
    try {
      const res = await run({ url: `ws://127.0.0.1:${srv.port}/`, connections: 4, durationMs: 400, workers: 1 });
      assert.deepEqual(res.failures.map((f) => [f.kind, f.count]), [['frames.close_4008', 4]]);
      assert.match(res.failures[0].example, /4008 "busy"/);
      assert.equal(res.totals.opened, 4);
    } finally {
      await srv.close();
    }
  });

  it('a listener that never accepts (backlog 1) → connect.ETIMEDOUT and upgrade.timeout', async () => {
    const srv = await neverAcceptingServer();
    try {
      const res = await run({ url: `ws://127.0.0.1:${srv.port}/`, connections: 12, durationMs: 0, workers: 1, connectTimeoutMs: 1500, handshakeTimeoutMs: 1500 });
      const k = kinds(res);
      assert.equal(res.totals.successes, 0);
      assert.equal(k['connect.ETIMEDOUT'], 'server');
      assert.equal(k['upgrade.timeout'], 'server');
      assert.equal(res.totals.failures, 12);
      assert.equal(res.failures.reduce((n, f) => n + f.count, 0), 12);
      assert.deepEqual(Object.keys(k).sort(), ['connect.ETIMEDOUT', 'upgrade.timeout']);
    } finally {
      srv.close();
    }
  });

  it('a generator fd budget too small → the pre-flight refuses with FG_ERR_BENCH_PLAN naming the limit', async () => {
    await assert.rejects(run({ url: 'ws://127.0.0.1:1/', connections: 500, workers: 1, fdLimit: 200, durationMs: 0 }), (err: unknown) => {
      assert.ok(isFloodgateError(err));
      assert.equal(err.code, 'FG_ERR_BENCH_PLAN');
      assert.match(err.message, /fd limit: 500 connections in one process need 564 fds, the per-process limit is 200 \(over by 364\); use --workers 4/);
      return true;
    });
  });

  it('too many connections for one source IP → the pre-flight names the port range', async () => {
    await assert.rejects(run({ url: 'ws://127.0.0.1:1/', connections: 60_000, workers: 4, durationMs: 0 }), (err: unknown) => {
      assert.ok(isFloodgateError(err));
      assert.equal(err.code, 'FG_ERR_BENCH_PLAN');
      assert.match(err.message, /ports: 60,000 connections per source IP need 60,000 ephemeral ports.*--source-ips/);
      return true;
    });
  });

  it('bad thresholds and targets are refused before any socket', async () => {
    await assert.rejects(run({ url: 'http://x', connections: 1 }), {
      code: 'FG_ERR_BENCH_TARGET', message: 'Expected `url` scheme ws, wss or tcp, got `http:` in `http://x`',
    });
    await assert.rejects(run({ url: 'ws://127.0.0.1:1/', connections: 1, thresholds: ['p98_foo<3'] }), (err: unknown) => {
      assert.ok(isFloodgateError(err));
      assert.equal(err.code, 'FG_ERR_THRESHOLD');
      assert.match(err.message, /^Expected `threshold` as <metric><op><number>.*got `p98_foo<3`$/);
      return true;
    });
  });
});
