import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chooseBalance, resolveWorkerCount, reusePortSupported, splitCapacity } from '../../src/server/worker-plan.js';
import { FloodgateError } from '../../src/errors.js';
import { openPeer, rawUpgrade, type Peer } from '../helpers/ws-peer.js';
import { getJson, startGateway } from '../helpers/scale-gateway.js';
import { spawnGroup, type GroupProcess } from '../helpers/spawn-group.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('the machine budget is split across workers; the fd part stays per process', () => {
  assert.deepEqual(splitCapacity({ workers: 3, memoryLimit: 3000, maxConnections: 10 }), [
    { memoryLimit: 1000, maxConnections: 4 },
    { memoryLimit: 1000, maxConnections: 3 },
    { memoryLimit: 1000, maxConnections: 3 },
  ]);
  assert.deepEqual(splitCapacity({ workers: 2, memoryLimit: 1001, maxConnections: 0 }).map((s) => s.maxConnections), [0, 0]);
  assert.throws(() => splitCapacity({ workers: 4, memoryLimit: 1000, maxConnections: 3 }), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /maxConnections/.test(e.message));
  assert.equal(resolveWorkerCount('auto', 6), 6);
  assert.equal(resolveWorkerCount(3, 6), 3);
});

test('reusePort is used only where Node supports it, else round-robin', () => {
  assert.equal(reusePortSupported('20.20.2', 'linux'), false);
  assert.equal(reusePortSupported('22.11.0', 'linux'), false);
  assert.equal(reusePortSupported('22.12.0', 'linux'), true);
  assert.equal(reusePortSupported('23.1.0', 'linux'), true);
  assert.equal(reusePortSupported('24.0.0', 'darwin'), false);
  assert.equal(chooseBalance('reuseport', '20.20.2').balance, 'shared');
  assert.match(chooseBalance('reuseport', '20.20.2').note, /22\.12/);
  assert.equal(chooseBalance('reuseport', '22.12.0').balance, 'reuseport');
  assert.equal(chooseBalance('auto').balance, 'shared');
  assert.equal(chooseBalance('round-robin').balance, 'round-robin');
});

test('serve --workers 2 without Redis: one port, connections on both workers, one sequence per channel, recovery across workers, cap split', async () => {
  // round-robin: deterministic spread, so both workers surely hold connections
  const g = await startGateway(0, ['--workers', '2', '--worker-balance', 'round-robin', '--max-connections', '12', '--admission-timeout', '0', '--history-size', '100']);
  const port = g.port;
  const peers: Peer[] = [];
  try {
    const workers = JSON.parse(g.stdout.split('\n').find((l) => l.startsWith('{"workers"'))!).workers;
    assert.deepEqual(workers.capPerWorker, [6, 6]);
    assert.equal(workers.capTotal, 12);
    for (let i = 0; i < 10; i++) peers.push(await openPeer(g.url));
    const nodes = new Set(peers.map((p) => p.frames[0].node));
    assert.equal(nodes.size, 2, 'round-robin puts connections on both workers');
    assert.equal(workers.balance, 'round-robin');
    peers.forEach((p, i) => p.send({ type: 'subscribe', id: i, channel: 'room' }));
    await Promise.all(peers.map((p) => p.next((f) => f.type === 'subscribed')));
    // 5 publishers spread over both workers, 10 messages each, concurrently
    for (let n = 0; n < 10; n++) for (let i = 0; i < 5; i++) peers[i].send({ type: 'publish', channel: 'room', data: { from: i, n } });
    for (const p of peers) {
      const msgs = await p.count((f) => f.type === 'message', 50, 8000);
      assert.deepEqual(msgs.map((m) => m.offset), Array.from({ length: 50 }, (_, k) => k + 1), 'dense, in order, identical on every worker');
    }
    const epoch = peers[0].frames.find((f) => f.type === 'message').epoch;
    // recovery through whichever worker the new connection lands on
    for (let i = 0; i < 2; i++) {
      const r = await openPeer(g.url);
      peers.push(r);
      r.send({ type: 'subscribe', id: 1, channel: 'room', recover: { epoch, offset: 40 } });
      const sub = await r.next((f) => f.type === 'subscribed');
      assert.deepEqual([sub.recovered, sub.replayed], [true, 10]);
      assert.deepEqual((await r.count((f) => f.type === 'message', 10)).map((m) => m.offset), [41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
    }
    // 12 held = the machine cap: the next upgrades get 503 from whichever worker they reach
    const over = await Promise.all([rawUpgrade(port), rawUpgrade(port)]);
    assert.deepEqual(over.map((a) => a.status), [503, 503]);
    const health = await getJson(port, '/healthz');
    assert.equal(health.status, 200);
    const stats = await getJson(port, '/stats');
    assert.equal(stats.body.broker.kind, 'memory-ipc');
    // one worker answered /stats; /stats/machine sums both, whichever worker takes the request
    // 12 held and each worker capped at 6: each holds exactly 6
    assert.equal(stats.body.connections.current, 6, 'a worker holds only its share');
    for (let i = 0; i < 2; i++) {
      const machine = (await getJson(port, '/stats/machine')).body;
      assert.deepEqual(machine.workers, { expected: 2, answered: 2, missing: [] });
      assert.equal(machine.connections.current, 12);
      assert.equal(machine.connections.cap, 12);
      assert.equal(machine.admission.rejected.over_capacity, 2);
    // each of the two went through both workers: handed off by the first full one, taken by the other
    assert.ok(machine.admission.handedOff >= 2, JSON.stringify(machine.admission));
    assert.equal(machine.admission.adopted, machine.admission.handedOff, 'every connection handed off was taken by a worker');
      assert.equal(machine.messages.publications, 50);
      assert.deepEqual(machine.perWorker.map((w: { index: number }) => w.index), [0, 1]);
      assert.equal(machine.perWorker.reduce((t: number, w: { connections: number }) => t + w.connections, 0), 12);
    }
  } finally {
    for (const p of peers) p.close();
    const code = await g.stop('SIGTERM');
    assert.equal(code, 0, g.stderr.slice(-1000));
  }
});

test('serve --workers 2, shared socket: a worker at its cap hands new connections to the other, so the machine cap is reached without 503', async () => {
  // cap 6 per worker. With the shared socket whichever worker accepts first takes the
  // connection, so an uneven spread is the normal case; without the handoff the fuller worker
  // answers 503 while the other still has room.
  const g = await startGateway(0, ['--workers', '2', '--worker-balance', 'shared', '--max-connections', '12', '--admission-timeout', '0']);
  const peers: Peer[] = [];
  try {
    const workers = JSON.parse(g.stdout.split('\n').find((l) => l.startsWith('{"workers"'))!).workers;
    assert.deepEqual(workers.capPerWorker, [6, 6]);
    // one after another, and then a group at once: both orders must fill the machine
    for (let i = 0; i < 6; i++) peers.push(await openPeer(g.url));
    peers.push(...(await Promise.all(Array.from({ length: 6 }, () => openPeer(g.url)))));
    assert.equal(peers.length, 12);
    const byNode = new Map<string, number>();
    for (const p of peers) byNode.set(p.frames[0].node, (byNode.get(p.frames[0].node) ?? 0) + 1);
    assert.deepEqual([...byNode.values()].sort(), [6, 6], 'each worker holds exactly its cap');
    // both full: the next ones visit each worker once and get the usual 503
    const over = await Promise.all([rawUpgrade(g.port), rawUpgrade(g.port)]);
    assert.deepEqual(over.map((a) => a.status), [503, 503]);
    const machine = (await getJson(g.port, '/stats/machine')).body;
    assert.equal(machine.connections.current, 12);
    assert.equal(machine.admission.rejected.over_capacity, 2);
    // each of the two went through both workers: handed off by the first full one, taken by the other
    assert.ok(machine.admission.handedOff >= 2, JSON.stringify(machine.admission));
    assert.equal(machine.admission.adopted, machine.admission.handedOff, 'every connection handed off was taken by a worker');
    // a slot freed on one worker is found again through the other
    peers.pop()!.close();
    await new Promise((r) => setTimeout(r, 300));
    let again: Peer | undefined;
    for (let i = 0; i < 20 && again === undefined; i++) {
      try {
        again = await openPeer(g.url);
      } catch {
        await new Promise((r) => setTimeout(r, 200)); // the close may not have reached the worker yet
      }
    }
    assert.ok(again, 'the freed slot is taken again');
    peers.push(again);
  } finally {
    for (const p of peers) p.close();
    const code = await g.stop('SIGTERM');
    assert.equal(code, 0, g.stderr.slice(-1000));
  }
});

test('serve --workers 2 --worker-balance reuseport --port 0: both workers listen on the one announced port (before Node 22.12: the shared socket, said so)', async () => {
  // each worker binds its own socket; with port 0 each used to get a free port of its own, so
  // only the first worker's (the announced one) ever saw a connection
  const g = await startGateway(0, ['--workers', '2', '--worker-balance', 'reuseport']);
  const peers: Peer[] = [];
  try {
    const workers = JSON.parse(g.stdout.split('\n').find((l) => l.startsWith('{"workers"'))!).workers;
    for (let i = 0; i < 24; i++) peers.push(await openPeer(g.url));
    if (reusePortSupported()) {
      assert.equal(workers.balance, 'reuseport');
      // the kernel spreads by a hash of the addresses: 24 connections all on one of 2 workers is a 1-in-8-million chance
      assert.equal(new Set(peers.map((p) => p.frames[0].node)).size, 2, 'connections reach both workers');
    } else {
      // Node 20 has no SO_REUSEPORT for net.Server: the request falls back, and the startup says why
      assert.match(workers.balance, /reuseport needs Node >= 22\.12 .*using shared/);
      assert.equal(peers.length, 24);
    }
  } finally {
    for (const p of peers) p.close();
    assert.equal(await g.stop('SIGTERM'), 0, g.stderr.slice(-1000));
  }
});

test('serve --workers 2 with the default (shared socket) balance serves and stops cleanly', async () => {
  const g = await startGateway(0, ['--workers', '2']);
  try {
    const workers = JSON.parse(g.stdout.split('\n').find((l) => l.startsWith('{"workers"'))!).workers;
    assert.match(workers.balance, /shared/);
    const p = await openPeer(g.url);
    p.send({ type: 'subscribe', id: 1, channel: 'x' });
    p.send({ type: 'publish', id: 2, channel: 'x', data: 1 });
    assert.equal((await p.next((f) => f.type === 'message')).offset, 1);
    p.close();
  } finally {
    assert.equal(await g.stop('SIGTERM'), 0, g.stderr.slice(-1000));
  }
});

/** Gone = no such pid, or a zombie waiting for init to reap it. */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function untilGone(pids: number[], ceilingMs: number): Promise<void> {
  const deadline = Date.now() + ceilingMs;
  while (!pids.every(processGone)) {
    if (Date.now() > deadline) throw new Error(`workers still running ${ceilingMs} ms after their primary was killed: ${pids.filter((p) => !processGone(p)).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('workers held at the start of their startup exit when the primary is SIGKILLed', async () => {
  const port = 0; // the workers never get as far as listening
  const proc = spawnGroup(
    process.execPath,
    ['--import', 'tsx', '--import', './test/fixtures/workers/hold-startup.mjs', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', String(port), '--workers', '2', '--log-format', 'json'],
    { cwd: root, name: 'serve --workers 2 (workers held)' },
  );
  try {
    const held = (p: GroupProcess) => [...p.stderr.matchAll(/holding worker startup: (\d+)/g)].map((m) => Number(m[1]));
    await proc.waitFor((p) => held(p).length === 2, 90_000, 'both workers held in startup');
    const pids = held(proc);
    assert.deepEqual(pids.map(processGone), [false, false]);
    assert.doesNotMatch(proc.stdout, /"workers":\{/, 'no worker got as far as listening');
    process.kill(proc.pid, 'SIGKILL');
    assert.equal((await proc.exited).signal, 'SIGKILL');
    await untilGone(pids, 30_000);
  } finally {
    await proc.stop('SIGKILL');
  }
});

test('workers that serve exit when the primary is SIGKILLed', async () => {
  const g = await startGateway(0, ['--workers', '2']);
  try {
    const { pids } = JSON.parse(g.stdout.split('\n').find((l) => l.startsWith('{"workers"'))!).workers as { pids: number[] };
    assert.equal(pids.length, 2);
    assert.deepEqual(pids.map(processGone), [false, false]);
    process.kill(g.pid, 'SIGKILL');
    await g.exited;
    await untilGone(pids, 30_000);
  } finally {
    await g.stop('SIGKILL');
  }
});

test('serve --workers 2 without Redis: historyMemory, maxChannels and maxIdempotencyKeys hold across workers; evicted history answers history_gone', async () => {
  // the primary's one broker holds every channel: the cap and the budget are the machine's, not a worker's
  const g = await startGateway(0, ['--workers', '2', '--worker-balance', 'round-robin', '--history-memory', '20000', '--max-channels', '30', '--max-idempotency-keys', '3']);
  const peers: Peer[] = [];
  try {
    for (let i = 0; i < 2; i++) peers.push(await openPeer(g.url));
    assert.notEqual(peers[0].frames[0].node, peers[1].frames[0].node, 'one connection on each worker');
    const [a, b] = peers;
    const data = 'x'.repeat(1000);
    a.send({ type: 'publish', id: 0, channel: 'first', data });
    const first = await a.next((f) => f.id === 0 && f.type === 'published', 20_000);
    // 29 more channels from both workers: 30 held, ~20 KB of history kept
    for (let i = 1; i < 30; i++) (i % 2 ? b : a).send({ type: 'publish', id: i, channel: `ch-${i}`, data });
    await a.count((f) => f.type === 'published' && f.id > 0, 14, 30_000);
    await b.count((f) => f.type === 'published', 15, 30_000);
    b.send({ type: 'publish', id: 100, channel: 'one-too-many', data: 1 });
    assert.equal((await b.next((f) => f.id === 100, 20_000)).code, 'FG_ERR_TOO_MANY_CHANNELS');
    a.send({ type: 'subscribe', id: 101, channel: 'also-too-many' });
    assert.equal((await a.next((f) => f.id === 101, 20_000)).code, 'FG_ERR_TOO_MANY_CHANNELS');
    // the oldest channel lost its history to the budget: recovery from the other worker says so
    b.send({ type: 'subscribe', id: 102, channel: 'first', recover: { epoch: first.epoch, offset: 0 } });
    const sub = await b.next((f) => f.id === 102, 20_000);
    assert.deepEqual([sub.type, sub.recovered, sub.reason, sub.epoch, sub.offset], ['subscribed', false, 'history_gone', first.epoch, first.offset], 'with the channel\'s current position');
    // idempotency keys are the primary's too: three from both workers fill the cap of 3
    a.send({ type: 'publish', id: 200, channel: 'ch-1', data: 1, idempotencyKey: 'k1' });
    b.send({ type: 'publish', id: 201, channel: 'ch-2', data: 1, idempotencyKey: 'k2', publisher: 'p', seq: 1 });
    assert.equal((await a.next((f) => f.id === 200, 20_000)).type, 'published');
    assert.equal((await b.next((f) => f.id === 201, 20_000)).type, 'published');
    a.send({ type: 'publish', id: 202, channel: 'ch-3', data: 1, idempotencyKey: 'k3' });
    const refused = await a.next((f) => f.id === 202, 20_000);
    assert.deepEqual([refused.type, refused.code], ['error', 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS']);
    b.send({ type: 'publish', id: 203, channel: 'ch-1', data: 1, idempotencyKey: 'k1' });
    const dup = await b.next((f) => f.id === 203, 20_000);
    assert.deepEqual([dup.type, dup.duplicate], ['published', true], 'a retry of a held key is still answered');
    // the workers report the primary's budget (sent every 2 s)
    const deadline = Date.now() + 20_000;
    let broker: any;
    do {
      await new Promise((r) => setTimeout(r, 200));
      broker = (await getJson(g.port, '/stats')).body.broker;
    } while (((broker.historyEvictions ?? 0) === 0 || (broker.channelsRefused ?? 0) < 2 || (broker.idempotencyRefused ?? 0) < 1) && Date.now() < deadline);
    assert.equal(broker.historyMemory, 20000);
    assert.equal(broker.maxChannels, 30);
    assert.ok(broker.historyEvictions >= 9, `${broker.historyEvictions} evictions`);
    assert.ok(broker.historyBytes <= 20000);
    assert.equal(typeof broker.historyPending, 'number', 'the primary\'s dropped-not-yet-collected history is reported too');
    assert.ok(broker.historyBytes + broker.historyPending <= 20000, `held ${broker.historyBytes} + waiting ${broker.historyPending} B over the budget`);
    assert.ok(broker.channelsRefused >= 2);
    assert.deepEqual([broker.maxIdempotencyKeys, broker.idempotencyRefused], [3, 1]);
  } finally {
    for (const p of peers) p.close();
    await g.stop('SIGTERM');
  }
});
