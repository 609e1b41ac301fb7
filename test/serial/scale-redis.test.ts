import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { openPeer, type Peer } from '../helpers/ws-peer.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { getJson, startGateway, type GatewayProcess } from '../helpers/scale-gateway.js';

let redis: RedisServer;
const gateways: GatewayProcess[] = [];
const peers: Peer[] = [];

before(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    gateways.push(await startGateway(0, ['--broker', redis.url, '--node-id', `node-${i}`, '--history-size', '500', '--rate-burst', '1000', '--rate-refill', '1000']));
  }
});

after(async () => {
  for (const p of peers) p.close();
  await Promise.all(gateways.map((g) => g.stop('SIGTERM')));
  await redis.kill();
});

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let t = '';
      res.on('data', (c) => (t += c));
      res.on('end', () => resolve(t));
    }).on('error', reject);
  });
}

test('two gateway processes share channels through Redis: dense offsets under concurrent publishers on both, same order everywhere', async () => {
  const [a, b] = gateways;
  const subs: Peer[] = [];
  for (let i = 0; i < 6; i++) subs.push(await openPeer((i % 2 ? b : a).url));
  peers.push(...subs);
  subs.forEach((p, i) => p.send({ type: 'subscribe', id: i, channel: 'ticks' }));
  await Promise.all(subs.map((p) => p.next((f) => f.type === 'subscribed')));
  assert.deepEqual([...new Set(subs.map((p) => p.frames[0].node))].sort(), ['node-0', 'node-1']);

  // 4 publishers, 2 per node, 60 messages each, all at once
  const pubs: Peer[] = [];
  for (let i = 0; i < 4; i++) pubs.push(await openPeer((i % 2 ? b : a).url));
  peers.push(...pubs);
  pubs.forEach((p, i) => {
    for (let n = 0; n < 60; n++) p.send({ type: 'publish', id: n, channel: 'ticks', data: { p: i, n } });
  });
  const acks = await Promise.all(pubs.map((p) => p.count((f) => f.type === 'published', 60, 15_000)));
  assert.deepEqual(acks.flat().map((f) => f.offset).sort((x, y) => x - y), range(1, 240), 'each publication got its own offset, no gap');
  const seen: string[] = [];
  for (const p of subs) {
    const msgs = await p.count((f) => f.type === 'message', 240, 15_000);
    assert.deepEqual(msgs.map((m) => m.offset), range(1, 240));
    seen.push(msgs.map((m) => `${m.data.p}/${m.data.n}`).join(','));
    // per publisher, its own messages stay in the order it sent them
    for (let i = 0; i < 4; i++) assert.deepEqual(msgs.filter((m) => m.data.p === i).map((m) => m.data.n), range(0, 59));
  }
  assert.equal(new Set(seen).size, 1, 'every subscriber on both nodes saw the same order');
});

test('history recovery works on either node', async () => {
  const [a, b] = gateways;
  const pub = await openPeer(a.url);
  peers.push(pub);
  for (let n = 1; n <= 20; n++) pub.send({ type: 'publish', id: n, channel: 'hist', data: n });
  const last = (await pub.count((f) => f.type === 'published', 20))[19];
  for (const g of [a, b]) {
    const r = await openPeer(g.url);
    peers.push(r);
    r.send({ type: 'subscribe', id: 1, channel: 'hist', recover: { epoch: last.epoch, offset: 12 } });
    const sub = await r.next((f) => f.type === 'subscribed');
    assert.deepEqual([sub.recovered, sub.replayed, sub.offset], [true, 8, 20]);
    assert.deepEqual((await r.count((f) => f.type === 'message', 8)).map((m) => m.data), range(13, 20));
    r.send({ type: 'subscribe', id: 2, channel: 'hist2', recover: { epoch: 'stale-epoch', offset: 3 } });
    const other = await r.next((f) => f.id === 2);
    assert.deepEqual([other.recovered, other.reason], [false, 'epoch_changed']);
  }
});

test('Redis down: publish answered FG_ERR_PUBLISH_FAILED, /stats /metrics /healthz say so, recovery `unavailable`; Redis back: healthy again', async () => {
  const [a, b] = gateways;
  const p = await openPeer(b.url);
  peers.push(p);
  p.send({ type: 'subscribe', id: 1, channel: 'outage' });
  p.send({ type: 'publish', id: 2, channel: 'outage', data: 'before' });
  const ok = await p.next((f) => f.id === 2 && f.type === 'published');
  // subscribed before the outage, so that the node owes this session the channel's continuation
  await p.next((f) => f.id === 1 && f.type === 'subscribed');
  await redis.kill();
  const deadline = Date.now() + 5000;
  while ((await getJson(b.port, '/stats')).body.broker.healthy && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const stats = (await getJson(b.port, '/stats')).body;
  assert.equal(stats.broker.healthy, false);
  assert.match(stats.broker.lastError, /./);
  assert.equal((await getJson(b.port, '/healthz')).status, 503);
  assert.match(await metrics(b.port), /^floodgate_broker_up 0$/m);

  p.send({ type: 'publish', id: 3, channel: 'outage', data: 'during' });
  const err = await p.next((f) => f.id === 3);
  assert.deepEqual([err.type, err.code], ['error', 'FG_ERR_PUBLISH_FAILED']);
  const r = await openPeer(a.url);
  peers.push(r);
  r.send({ type: 'subscribe', id: 4, channel: 'outage', recover: { epoch: ok.epoch, offset: 0 } });
  const sub = await r.next((f) => f.id === 4);
  assert.deepEqual([sub.type, sub.recovered, sub.reason], ['subscribed', false, 'unavailable']);
  assert.ok(!p.frames.some((f) => f.type === 'message' && f.data === 'during'), 'a refused publication is never delivered');

  await redis.start();
  const back = Date.now() + 8000;
  while ((await getJson(b.port, '/healthz')).status !== 200 && Date.now() < back) await new Promise((r2) => setTimeout(r2, 100));
  assert.equal((await getJson(b.port, '/healthz')).status, 200);
  // this Redis keeps nothing on disk: the channel came back with a new epoch, so the node cannot
  // prove its subscriber saw everything; it closes it (1001) to make it reconnect and recover
  const closed = await Promise.race([p.closed, new Promise((r2) => setTimeout(() => r2('still open'), 5000))]);
  assert.equal(closed, 1001);
  assert.match(p.closeReason, /missed publications/);
  const again = await openPeer(b.url);
  peers.push(again);
  again.send({ type: 'subscribe', id: 6, channel: 'outage', recover: { epoch: ok.epoch, offset: ok.offset } });
  const resub = await again.next((f) => f.id === 6);
  assert.deepEqual([resub.type, resub.recovered, resub.reason], ['subscribed', false, 'epoch_changed'], 'told, never silently given a gap');
  again.send({ type: 'publish', id: 5, channel: 'outage', data: 'after' });
  const after2 = await again.next((f) => f.id === 5);
  assert.equal(after2.type, 'published');
  assert.notEqual(after2.epoch, ok.epoch, 'Redis lost its keys: a new epoch');
  const msg = await again.next((f) => f.type === 'message' && f.data === 'after');
  assert.equal(msg.epoch, after2.epoch);
});
