import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { createGateway } from '../../src/server/gateway.js';
import { openPeer } from '../helpers/ws-peer.js';

const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;
const socketOf = (ws: unknown) => (ws as { _socket: Socket })._socket;

test('publications arriving in one turn reach each subscriber in order, in one write, and acks never overtake them', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base });
  try {
    const sub = await openPeer(`ws://127.0.0.1:${g.port}/`);
    const pub = await openPeer(`ws://127.0.0.1:${g.port}/`);
    sub.send({ type: 'subscribe', id: 1, channel: 'c' });
    pub.send({ type: 'subscribe', id: 1, channel: 'c' });
    await sub.next((f) => f.type === 'subscribed');
    await pub.next((f) => f.type === 'subscribed');

    const before = g.stats().messages;
    const raw = socketOf(pub.ws);
    raw.cork(); // 20 publish frames in one segment: the gateway reads them in one turn
    for (let i = 1; i <= 20; i++) pub.send({ type: 'publish', id: 100 + i, channel: 'c', data: { i } });
    raw.uncork();

    const got = await sub.count((f) => f.type === 'message', 20, 10_000);
    assert.deepEqual(got.map((f) => f.offset), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.deepEqual(got.map((f) => f.data.i), Array.from({ length: 20 }, (_, i) => i + 1));
    // 40 publication frames (20 to each of the two subscribers) left in exactly 2 writes, one per socket
    const after = g.stats().messages;
    assert.equal(after.out - before.out - 20, 40, 'frames out: 40 messages + 20 acks');
    assert.equal(after.publicationWrites - before.publicationWrites, 2);

    // the publisher is subscribed too: message k must reach it before the ack of publish k
    await pub.count((f) => f.type === 'published', 20, 10_000);
    const order = pub.frames.filter((f) => f.type === 'message' || f.type === 'published').map((f) => (f.type === 'message' ? `m${f.offset}` : `a${f.offset}`));
    for (let k = 1; k <= 20; k++) assert.ok(order.indexOf(`m${k}`) < order.indexOf(`a${k}`), `message ${k} before its ack: ${order.join(' ')}`);
    sub.close();
    pub.close();
  } finally {
    await g.close(1000);
  }
});

test('a replay larger than one batch is written in several writes, in order, before the live messages', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base, rateBurst: 1000, rateRefill: 1000 });
  try {
    const pub = await openPeer(`ws://127.0.0.1:${g.port}/`);
    const big = 'x'.repeat(1000);
    for (let i = 1; i <= 300; i++) pub.send({ type: 'publish', id: i, channel: 'r', data: { i, big } });
    const last = await pub.next((f) => f.type === 'published' && f.id === 300, 10_000);

    const sub = await openPeer(`ws://127.0.0.1:${g.port}/`);
    sub.send({ type: 'subscribe', id: 1, channel: 'r', recover: { epoch: last.epoch, offset: 0 } });
    const answer = await sub.next((f) => f.type === 'subscribed');
    assert.equal(answer.recovered, true);
    assert.equal(answer.replayed, 300);
    pub.send({ type: 'publish', id: 301, channel: 'r', data: { i: 301 } });
    const got = await sub.count((f) => f.type === 'message', 301, 10_000);
    assert.deepEqual(got.map((f) => f.offset), Array.from({ length: 301 }, (_, i) => i + 1));
    sub.close();
    pub.close();
  } finally {
    await g.close(1000);
  }
});
