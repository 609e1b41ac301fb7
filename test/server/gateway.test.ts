import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createGateway } from '../../src/server/gateway.js';
import { createToken } from '../../src/auth/create-token.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { openPeer, rawUpgrade, sleep } from '../helpers/ws-peer.js';

const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;

test('token and Origin checks refuse the upgrade with 401/403 and limit channels', async () => {
  const secret = 's3cret';
  const g = await createGateway({ ...base, authSecret: secret, allowedOrigins: 'https://app.example' });
  try {
    const none = await rawUpgrade(g.port);
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body).code, 'FG_ERR_UNAUTHORIZED');
    const expired = createToken(secret, { exp: Math.floor(Date.now() / 1000) - 10 });
    assert.equal((await rawUpgrade(g.port, { path: `/?token=${expired}` })).status, 401);
    const forged = createToken('other', { exp: Math.floor(Date.now() / 1000) + 60 });
    assert.equal((await rawUpgrade(g.port, { path: `/?token=${forged}` })).status, 401);
    const good = createToken(secret, { sub: 'u1', exp: Math.floor(Date.now() / 1000) + 60, channels: ['chat:*', 'news'] });
    const badOrigin = await rawUpgrade(g.port, { path: `/?token=${good}`, headers: { Origin: 'https://evil.example' } });
    assert.equal(badOrigin.status, 403);
    assert.equal(JSON.parse(badOrigin.body).code, 'FG_ERR_FORBIDDEN_ORIGIN');
    assert.equal((await rawUpgrade(g.port, { headers: { Authorization: `Bearer ${good}`, Origin: 'https://app.example' } })).status, 101);

    const p = await openPeer(`ws://127.0.0.1:${g.port}/?token=${good}`);
    p.send({ type: 'subscribe', id: 1, channel: 'chat:room1' });
    p.send({ type: 'subscribe', id: 2, channel: 'secret' });
    p.send({ type: 'publish', id: 3, channel: 'secret', data: 1 });
    assert.equal((await p.next((f) => f.id === 1)).type, 'subscribed');
    assert.equal((await p.next((f) => f.id === 2)).code, 'FG_ERR_FORBIDDEN_CHANNEL');
    assert.equal((await p.next((f) => f.id === 3)).code, 'FG_ERR_FORBIDDEN_CHANNEL');
    p.close();
    const s = g.stats().admission.rejected;
    assert.equal(s.unauthorized, 3);
    assert.equal(s.forbidden_origin, 1);
  } finally {
    await g.close(1000);
  }
});

test('slowloris: a connection that never completes its upgrade is closed after handshakeTimeout', async () => {
  const g = await createGateway({ ...base, handshakeTimeout: 600 });
  try {
    const silent = connect(g.port, '127.0.0.1');
    const trickle = connect(g.port, '127.0.0.1');
    const closed = (s: typeof silent): Promise<void> => new Promise((r) => s.on('close', () => r()));
    silent.on('error', () => {});
    trickle.on('error', () => {});
    // the gateway answers 408 with a JSON body before closing: read it, or the end is never seen
    silent.resume();
    trickle.resume();
    const silentClosed = closed(silent);
    const trickleClosed = closed(trickle);
    let stop = false;
    trickle.on('connect', async () => {
      const header = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
      for (const ch of header + 'X-Slow: '.repeat(200)) {
        if (stop || trickle.destroyed) break;
        trickle.write(ch);
        await sleep(100); // each byte resets an idle timer: only a headers deadline catches this
      }
    });
    // the trickle would take 180 s to finish its headers; only the deadline closes it sooner
    await Promise.all([silentClosed, trickleClosed]);
    stop = true;
    assert.ok(silent.destroyed && trickle.destroyed);
    assert.equal(g.stats().admission.handshakeTimeouts, 2, 'the silent one and the trickling one');
    assert.equal(g.stats().admission.admitted, 0);
  } finally {
    await g.close(1000);
  }
});

test('graceful shutdown: clients get 1001, new upgrades are refused, close() resolves', async () => {
  const g = await createGateway({ ...base });
  const url = `ws://127.0.0.1:${g.port}`;
  const peers = await Promise.all([1, 2, 3].map(() => openPeer(url)));
  const closing = g.close(2000);
  const codes = await Promise.all(peers.map((p) => p.closed));
  assert.deepEqual(codes, [CloseCode.GOING_AWAY, CloseCode.GOING_AWAY, CloseCode.GOING_AWAY]);
  await closing;
  await assert.rejects(rawUpgrade(g.port), /ECONNREFUSED/);
});

test('/healthz, /stats and /metrics answer from the stats snapshot', async () => {
  const g = await createGateway({ ...base, maxConnections: 50 });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    p.send({ type: 'subscribe', id: 1, channel: 'news' });
    await p.next((f) => f.type === 'subscribed');
    p.send({ type: 'publish', id: 2, channel: 'news', data: 'hello' });
    await p.next((f) => f.type === 'published');
    await p.next((f) => f.type === 'message');
    const health = await fetch(`http://127.0.0.1:${g.port}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok', node: g.stats().node });
    const stats = (await (await fetch(`http://127.0.0.1:${g.port}/stats`)).json()) as any;
    assert.equal(stats.pid, process.pid);
    assert.equal(stats.shuttingDown, false);
    assert.deepEqual(stats.listener, { host: '127.0.0.1', port: g.port, backlogRequested: 'max', backlogEffective: g.somaxconn, somaxconn: g.somaxconn });
    assert.deepEqual(stats.connections, { current: 1, peak: 1, cap: 50, capOrigin: 'explicit', handshaking: 0, waiting: 0, accepting: 0 });
    assert.equal(stats.admission.admitted, 1);
    assert.deepEqual(Object.values(stats.admission.rejected), [0, 0, 0, 0, 0, 0, 0]);
    // in: subscribe, publish; out: welcome, subscribed, published, message
    assert.deepEqual([stats.messages.in, stats.messages.out, stats.messages.publications], [2, 4, 1]);
    assert.deepEqual(stats.channels, { local: 1, subscriptions: 1 });
    assert.deepEqual([stats.broker.kind, stats.broker.healthy, stats.broker.channels, stats.broker.historyMessages], ['memory', true, 1, 1]);
    assert.ok(stats.broker.historyBytes > 0);
    // the gateway runs in this process: its memory and fds are ours
    const rss = process.memoryUsage().rss;
    assert.ok(stats.memory.rss > rss / 2 && stats.memory.rss < rss * 2, `rss ${stats.memory.rss} vs ${rss}`);
    const fds = readdirSync('/proc/self/fd').length;
    assert.ok(Math.abs(stats.fds.open - fds) <= 4, `fds.open ${stats.fds.open}, /proc/self/fd ${fds}`);
    assert.equal(stats.fds.limit, Number(/^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]));
    const metrics = await (await fetch(`http://127.0.0.1:${g.port}/metrics`)).text();
    assert.match(metrics, /^floodgate_up 1$/m);
    assert.match(metrics, /^floodgate_connections 1$/m);
    assert.match(metrics, /^floodgate_connection_cap 50$/m);
    assert.match(metrics, /^floodgate_connections_admitted_total 1$/m);
    assert.match(metrics, /^floodgate_connections_rejected_total\{reason="over_capacity"\} 0$/m);
    assert.match(metrics, /^floodgate_publications_total 1$/m);
    assert.match(metrics, /^floodgate_messages_received_total 2$/m);
    assert.match(metrics, /^floodgate_subscriptions 1$/m);
    assert.match(metrics, /^floodgate_history_messages 1$/m);
    assert.match(metrics, new RegExp(`^floodgate_listen_backlog ${g.somaxconn}$`, 'm'));
    const metricRss = Number(/^floodgate_process_resident_memory_bytes (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(metricRss > rss / 2 && metricRss < rss * 2, `metric rss ${metricRss} vs ${rss}`);
    assert.equal((await fetch(`http://127.0.0.1:${g.port}/nope`)).status, 404);
    p.close();
  } finally {
    await g.close(1000);
  }
});

function listenQueueOf(port: number): number {
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  // State Recv-Q Send-Q Local Peer; for LISTEN sockets Send-Q is the backlog
  const cols = out.trim().split(/\s+/);
  return Number(cols[2]);
}

test('the effective listen backlog, checked with ss -ltn, is min(requested, somaxconn)', async () => {
  const small = await createGateway({ ...base, backlog: 100 });
  const max = await createGateway({ ...base });
  const huge = await createGateway({ ...base, backlog: 1_000_000 });
  try {
    assert.equal(listenQueueOf(small.port), 100);
    assert.equal(small.startupReport().backlog.effective, 100);
    const somaxconn = max.somaxconn!;
    assert.equal(listenQueueOf(max.port), somaxconn);
    assert.equal(listenQueueOf(huge.port), somaxconn);
    const r = huge.startupReport();
    assert.equal(r.backlog.cappedBySomaxconn, true);
    assert.match(r.warnings.join('\n'), /capped to \d+ by net.core.somaxconn/);
  } finally {
    await Promise.all([small.close(500), max.close(500), huge.close(500)]);
  }
});

test('listens dual-stack on :: and answers over IPv4 and IPv6', async () => {
  const g = await createGateway({ logLevel: 'silent', port: 0 });
  try {
    assert.equal(g.host, '::');
    assert.equal((await rawUpgrade(g.port, { host: '127.0.0.1' })).status, 101);
    assert.equal((await rawUpgrade(g.port, { host: '::1' })).status, 101);
  } finally {
    await g.close(500);
  }
});
