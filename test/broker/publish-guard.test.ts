import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import { PublishGuard } from '../../src/broker/publish-guard.js';
import { FloodgateError } from '../../src/errors.js';
import { createGateway } from '../../src/server/gateway.js';
import { Peer } from '../helpers/ws-peer.js';

const limits = { maxCount: 100, maxBytes: 1e6, ttlMs: 0 };

test('PublishGuard: a key answers its position within the window only, per channel; seq must rise per publisher and channel', () => {
  const g = new PublishGuard(1000);
  assert.deepEqual(g.check('a', { idempotencyKey: 'k' }, 0), { kind: 'new' });
  g.record('a', { idempotencyKey: 'k', publisher: 'p', seq: 5 }, { epoch: 'e', offset: 7 }, 0);
  assert.deepEqual(g.check('a', { idempotencyKey: 'k' }, 999), { kind: 'duplicate', position: { epoch: 'e', offset: 7 } });
  assert.deepEqual(g.check('b', { idempotencyKey: 'k' }, 999), { kind: 'new' }, 'another channel');
  assert.throws(() => g.check('a', { publisher: 'p', seq: 5 }, 10), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_OUT_OF_ORDER' && e.details?.last === 5);
  assert.throws(() => g.check('a', { publisher: 'p', seq: 4 }, 10), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_OUT_OF_ORDER');
  assert.deepEqual(g.check('a', { publisher: 'p', seq: 6 }, 10), { kind: 'new' });
  assert.deepEqual(g.check('a', { publisher: 'q', seq: 1 }, 10), { kind: 'new' }, 'another publisher');
  assert.deepEqual(g.check('b', { publisher: 'p', seq: 1 }, 10), { kind: 'new' }, 'another channel');
  // past the window both are forgotten
  assert.deepEqual(g.check('a', { idempotencyKey: 'k', publisher: 'p', seq: 1 }, 1001), { kind: 'new' });
  assert.equal(g.size, 0);
  const off = new PublishGuard(0);
  off.record('a', { idempotencyKey: 'k' }, { epoch: 'e', offset: 1 }, 0);
  assert.deepEqual(off.check('a', { idempotencyKey: 'k' }, 0), { kind: 'new' }, 'window 0 = off');
});

test('memory broker: the same key is published once and answers the original {epoch, offset}', async () => {
  const b = new MemoryBroker(limits, 60_000);
  const got: number[] = [];
  b.onPublication = (p) => got.push(p.offset);
  await b.start();
  b.watch('c');
  const first = await b.publish('c', 'x', { idempotencyKey: 'k1' });
  const again = await b.publish('c', 'x', { idempotencyKey: 'k1' });
  const other = await b.publish('c', 'y', { idempotencyKey: 'k2' });
  assert.deepEqual(first, { epoch: first.epoch, offset: 1 });
  assert.deepEqual(again, { epoch: first.epoch, offset: 1, duplicate: true });
  assert.equal(other.offset, 2);
  assert.deepEqual(got, [1, 2]);
  await assert.rejects(b.publish('c', 'z', { publisher: 'p', seq: 3 }).then(() => b.publish('c', 'stale', { publisher: 'p', seq: 2 })), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_OUT_OF_ORDER');
  assert.deepEqual(got, [1, 2, 3]);
  await b.close();
});

test('gateway: a stale frame of a publisher (lower seq, from another connection) is refused, a repeated key answers its original offset', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  const a = new Peer(`ws://127.0.0.1:${g.port}/`);
  const b = new Peer(`ws://127.0.0.1:${g.port}/`);
  try {
    await Promise.all([a.opened, b.opened]);
    const welcome = await a.next((f) => f.type === 'welcome');
    assert.equal(welcome.idempotencyWindow, 300_000);
    b.send({ type: 'publish', id: 1, channel: 'o', data: 2, idempotencyKey: 'p:2', publisher: 'p', seq: 2 });
    const p2 = await b.next((f) => f.id === 1);
    assert.deepEqual([p2.type, p2.offset, p2.duplicate], ['published', 1, undefined]);
    // the old connection's frame with seq 1 arrives late: refused, not applied after seq 2
    a.send({ type: 'publish', id: 7, channel: 'o', data: 1, idempotencyKey: 'p:1', publisher: 'p', seq: 1 });
    const stale = await a.next((f) => f.id === 7);
    assert.deepEqual([stale.type, stale.code], ['error', 'FG_ERR_PUBLISH_OUT_OF_ORDER']);
    // the old connection's copy of seq 2 (same key): the original answer, nothing published
    a.send({ type: 'publish', id: 8, channel: 'o', data: 2, idempotencyKey: 'p:2', publisher: 'p', seq: 2 });
    const dup = await a.next((f) => f.id === 8);
    assert.deepEqual([dup.type, dup.offset, dup.epoch, dup.duplicate], ['published', 1, p2.epoch, true]);
    a.send({ type: 'publish', id: 9, channel: 'o', data: 0, seq: 3 });
    const bad = await a.next((f) => f.id === 9);
    assert.deepEqual([bad.code, bad.message], ['FG_ERR_BAD_FRAME', 'seq: needs `publisher` (the sequence is counted per publisher)']);
    a.send({ type: 'publish', id: 10, channel: 'o', data: 0, idempotencyKey: 'x'.repeat(65) });
    assert.equal((await a.next((f) => f.id === 10)).code, 'FG_ERR_BAD_FRAME');
    const s = g.stats().messages;
    assert.deepEqual([s.publications, s.duplicatePublishes, s.publishFailures], [1, 1, 1]);
  } finally {
    a.ws.terminate();
    b.ws.terminate();
    await g.close(1000);
  }
});

test('PublishGuard maxEntries: keys and publisher seqs over all channels are capped; what adds nothing is never refused; expired entries free room', () => {
  const g = new PublishGuard(1000, 4);
  g.record('a', { idempotencyKey: 'k1' }, { epoch: 'e', offset: 1 }, 0);
  g.record('b', { idempotencyKey: 'k1', publisher: 'p', seq: 1 }, { epoch: 'e', offset: 1 }, 100);
  g.record('c', { idempotencyKey: 'k2' }, { epoch: 'e', offset: 1 }, 200);
  assert.equal(g.size, 4);
  const full = (e: FloodgateError): boolean => e.code === 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS' && /maxIdempotencyKeys 4/.test(e.message);
  assert.throws(() => g.check('a', { idempotencyKey: 'k9' }, 300), full);
  assert.throws(() => g.check('b', { publisher: 'q', seq: 1 }, 300), full, 'a new publisher is an entry too');
  assert.deepEqual(g.check('a', { idempotencyKey: 'k1' }, 300), { kind: 'duplicate', position: { epoch: 'e', offset: 1 } });
  assert.deepEqual(g.check('b', { publisher: 'p', seq: 2 }, 300), { kind: 'new' }, 'the next seq of a known publisher');
  assert.deepEqual(g.check('a', undefined, 300), { kind: 'new' });
  assert.equal(g.refused, 2);
  // re-recording a publisher moves it to the end: it expires last
  g.record('b', { publisher: 'p', seq: 2 }, { epoch: 'e', offset: 2 }, 300);
  assert.deepEqual(g.check('a', { idempotencyKey: 'k9' }, 1000), { kind: 'new' }, 'the entry of t=0 expired: room for one');
  assert.equal(g.size, 3);
  assert.throws(() => g.check('x', { idempotencyKey: 'k', publisher: 'new', seq: 1 }, 1000), full, 'two entries do not fit in one place');
  g.sweep(1299);
  assert.equal(g.size, 1, 'only the re-recorded publisher is left');
  assert.throws(() => g.check('b', { publisher: 'p', seq: 2 }, 1299), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_OUT_OF_ORDER');
  const unbounded = new PublishGuard(1000, 0);
  for (let i = 0; i < 100; i++) unbounded.record('a', { idempotencyKey: `k${i}` }, { epoch: 'e', offset: i }, 0);
  assert.deepEqual(unbounded.check('a', { idempotencyKey: 'more' }, 1), { kind: 'new' }, '0 = no cap');
});

test('memory broker maxIdempotencyKeys: a publish past the cap is refused with a code and not published; the broker says so in stats', async () => {
  const b = new MemoryBroker(limits, 60_000, { maxIdempotencyKeys: 3 });
  await b.start();
  for (let i = 0; i < 3; i++) await b.publish(`c${i}`, i, { idempotencyKey: `k${i}` });
  await assert.rejects(b.publish('c0', 'x', { idempotencyKey: 'k3' }), (e: FloodgateError) => e.code === 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS');
  assert.equal((await b.recover('c0')).offset, 1, 'not published');
  assert.equal((await b.publish('c0', 'y')).offset, 2, 'a publish without a key goes on');
  const st = b.stats();
  assert.deepEqual([st.maxIdempotencyKeys, st.idempotencyRefused], [3, 1]);
  await b.close();
});
