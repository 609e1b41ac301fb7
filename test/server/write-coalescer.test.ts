import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { createGateway } from '../../src/server/gateway.js';
import { openPeer } from '../helpers/ws-peer.js';

const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;
const socketOf = (ws: unknown) => (ws as { _socket: Socket })._socket;

test('publications arriving in one turn reach each subscriber in order, in two writes (the first at once, the rest together), and acks never overtake them', { timeout: 120_000 }, async () => {
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
    // 40 publication frames (20 to each of the two subscribers) left in exactly 4 writes: per socket
    // the turn's first frame at once, the other 19 together at the end of the turn
    const after = g.stats().messages;
    assert.equal(after.out - before.out - 20, 40, 'frames out: 40 messages + 20 acks');
    assert.equal(after.publicationWrites - before.publicationWrites, 4);

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

/** Splits what a client socket reads into server frames (unmasked), noting which read each came in. */
function frameTap(socket: Socket): { opcode: number; read: number; index: number }[] {
  const frames: { opcode: number; read: number; index: number }[] = [];
  let pending = Buffer.alloc(0);
  let read = 0;
  socket.on('data', (chunk: Buffer) => {
    read++;
    pending = Buffer.concat([pending, chunk]);
    let index = 0;
    for (;;) {
      if (pending.length < 2) break;
      const len7 = pending[1] & 0x7f;
      const head = len7 === 127 ? 10 : len7 === 126 ? 4 : 2;
      if (pending.length < head) break;
      const len = len7 === 127 ? Number(pending.readBigUInt64BE(2)) : len7 === 126 ? pending.readUInt16BE(2) : len7;
      if (pending.length < head + len) break;
      frames.push({ opcode: pending[0] & 0x0f, read, index: index++ });
      pending = pending.subarray(head + len);
    }
  });
  return frames;
}

test('a ping that is nearly due leaves in the same write as a publication; a quiet connection is still pinged on its own', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base, pingInterval: 5000, rateBurst: 1000, rateRefill: 1000 });
  try {
    const sub = await openPeer(`ws://127.0.0.1:${g.port}/`);
    const quiet = await openPeer(`ws://127.0.0.1:${g.port}/`);
    const pub = await openPeer(`ws://127.0.0.1:${g.port}/`);
    sub.send({ type: 'subscribe', id: 1, channel: 'busy' });
    quiet.send({ type: 'subscribe', id: 1, channel: 'quiet' });
    await sub.next((f) => f.type === 'subscribed');
    await quiet.next((f) => f.type === 'subscribed');
    const tap = frameTap(socketOf(sub.ws));
    let quietPings = 0;
    quiet.ws.on('ping', () => quietPings++);

    // a publication every 50 ms until a ping came along with one, bounded in count and time
    const carried = () => tap.filter((f, i) => f.opcode === 0x9 && i > 0 && tap[i - 1].opcode === 0x1 && tap[i - 1].read === f.read).length;
    let sent = 0;
    const until = Date.now() + 60_000;
    while ((carried() === 0 || quietPings === 0) && sent < 1200 && Date.now() < until) {
      pub.send({ type: 'publish', channel: 'busy', data: { n: ++sent } });
      await new Promise((r) => setTimeout(r, 50));
    }
    const got = await sub.count((f) => f.type === 'message', sent, 10_000);
    assert.deepEqual(got.map((f) => f.data.n), Array.from({ length: sent }, (_, i) => i + 1), 'every publication arrives once, in order, as a text frame');
    assert.ok(tap.some((f) => f.opcode === 0x9), 'the busy subscriber was pinged');
    assert.ok(carried() >= 1, `a ping left right after a message, in the same read: ${JSON.stringify(tap.filter((f) => f.opcode !== 0x1))}`);
    assert.ok(quietPings >= 1, 'a connection with no publications is pinged on its own');
    assert.equal(sub.closeCode, undefined);
    sub.close();
    quiet.close();
    pub.close();
  } finally {
    await g.close(1000);
  }
});
