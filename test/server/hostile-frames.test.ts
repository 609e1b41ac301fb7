import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../../src/server/gateway.js';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import type { Json } from '../../src/protocol/frames.js';
import type { PublishAnswer, PublishOptions } from '../../src/broker/broker.js';
import { FloodgateError } from '../../src/errors.js';
import { openPeer } from '../helpers/ws-peer.js';

const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;

test('a publish nested thousands deep (under maxPayload) gets FG_ERR_BAD_FRAME; the process and other clients carry on', { timeout: 120_000 }, async () => {
  const g = await createGateway(base);
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const other = await openPeer(url);
    other.send({ type: 'subscribe', id: 1, channel: 'news' });
    await other.next((f) => f.type === 'subscribed');
    const evil = await openPeer(url);
    const n = 6000; // 12 KB of brackets: under the 16 KiB maxPayload
    evil.send(`{"type":"publish","id":7,"channel":"news","data":${'['.repeat(n)}${']'.repeat(n)}}`);
    const err = await evil.next((f) => f.type === 'error' && f.id === 7);
    assert.equal(err.code, 'FG_ERR_BAD_FRAME');
    assert.match(err.message, /maxDepth 32/);
    evil.send({ type: 'ping', id: 8 });
    await evil.next((f) => f.type === 'pong' && f.id === 8);
    other.send({ type: 'ping', id: 2 });
    await other.next((f) => f.type === 'pong' && f.id === 2);
    assert.equal(other.frames.filter((f) => f.type === 'message').length, 0, 'nothing was published');
    const s = g.stats();
    assert.equal(s.messages.badFrames, 1);
    assert.equal(s.messages.internalErrors, 0);
    assert.equal(s.connections.current, 2);
    other.close();
    evil.close();
  } finally {
    await g.close(1000);
  }
});

test('maxDepth is a validated setting and applies to the whole frame', { timeout: 120_000 }, async () => {
  await assert.rejects(createGateway({ ...base, maxDepth: 1 }), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /maxDepth.*from 2 to 256/.test(e.message));
  const g = await createGateway({ ...base, maxDepth: 3 });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    p.send({ type: 'publish', id: 1, channel: 'c', data: [[1]] });
    assert.equal((await p.next((f) => f.id === 1)).type, 'published');
    p.send({ type: 'publish', id: 2, channel: 'c', data: [[[1]]] });
    const err = await p.next((f) => f.id === 2);
    assert.deepEqual([err.type, err.code], ['error', 'FG_ERR_BAD_FRAME']);
    assert.match(err.message, /maxDepth 3 /);
    p.close();
  } finally {
    await g.close(1000);
  }
});

/** A broker that fails by throwing where a promise was expected: a bug the gateway must contain. */
class ThrowingBroker extends MemoryBroker {
  override publish(channel: string, data: Json, options?: PublishOptions): Promise<PublishAnswer> {
    if (channel === 'boom') throw new TypeError('synchronous failure inside the broker');
    return super.publish(channel, data, options);
  }
}

test('an exception thrown while routing a frame answers FG_ERR_INTERNAL and escapes nowhere', { timeout: 120_000 }, async () => {
  const g = await createGateway(base, { broker: new ThrowingBroker({ maxCount: 100, maxBytes: 1 << 20, ttlMs: 0 }) });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    p.send({ type: 'publish', id: 1, channel: 'boom', data: 1 });
    const err = await p.next((f) => f.type === 'error');
    assert.equal(err.code, 'FG_ERR_INTERNAL');
    p.send({ type: 'publish', id: 2, channel: 'fine', data: 1 });
    assert.equal((await p.next((f) => f.id === 2)).type, 'published');
    assert.equal(g.stats().messages.internalErrors, 1);
    p.close();
  } finally {
    await g.close(1000);
  }
});

test('a message in more fragments than its size warrants closes with 1008: 16,000 one-byte fragments held ~2 MB per connection under a 16 KiB maxPayload', { timeout: 120_000 }, async () => {
  const { connect } = await import('node:net');
  const { encodeClientFrame, parseFrames } = await import('../../src/loadgen/ws-frames.js');
  const g = await createGateway(base);
  try {
    /** Upgrades by hand, writes `frames`, resolves with the close code the server sent (or 'open' when it answered the ping instead). */
    const send = (frames: Buffer[]): Promise<number | 'open'> => new Promise((resolve, reject) => {
      const s = connect(g.port, '127.0.0.1');
      let head = true;
      let buf = Buffer.alloc(0);
      const state = {};
      const timer = setTimeout(() => { s.destroy(); reject(new Error('no close and no pong within 20 s')); }, 20_000);
      s.on('error', () => {});
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (head) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          head = false;
          buf = buf.subarray(end + 4);
          for (const f of frames) s.write(f);
          s.write(encodeClientFrame(1, Buffer.from('{"type":"ping","id":77}')));
        }
        const { events, rest } = parseFrames(buf, state);
        buf = Buffer.from(rest);
        for (const e of events) {
          if (e.kind === 'close') { clearTimeout(timer); s.destroy(); resolve(e.code ?? 1005); }
          if (e.kind === 'text' && e.text.includes('"id":77')) { clearTimeout(timer); s.destroy(); resolve('open'); }
        }
      });
      s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    });
    const fragmented = (text: string, pieces: number): Buffer[] => {
      const size = Math.ceil(text.length / pieces);
      const out: Buffer[] = [];
      for (let i = 0; i < pieces; i++) {
        const f = encodeClientFrame(i === 0 ? 1 : 0, Buffer.from(text.slice(i * size, (i + 1) * size)));
        if (i < pieces - 1) f[0]! &= 0x7f;
        out.push(f);
      }
      return out;
    };
    const ping = `{"type":"ping","id":5,"pad":"${'p'.repeat(2000)}"}`;
    assert.equal(await send(fragmented(ping, 16)), 'open', 'a message in 16 fragments is read');
    // before: read (up to ws's 16,384 fragments), each fragment a Buffer held until the end
    assert.equal(await send(fragmented(ping, 1000)), 1008);
    assert.equal(g.stats().closed.message_too_big, 1);
  } finally {
    await g.close(1000);
  }
});

test('a frame dribbled a byte per TCP segment closes with 1008 once its pieces outnumber what its size warrants: each piece cost the server ~300 B until the frame was whole', { timeout: 120_000 }, async () => {
  const { connect } = await import('node:net');
  const { encodeClientFrame } = await import('../../src/loadgen/ws-frames.js');
  const g = await createGateway(base);
  try {
    const s = connect(g.port, '127.0.0.1');
    s.setNoDelay(true);
    s.on('error', () => {});
    let out = Buffer.alloc(0);
    s.on('data', (d: Buffer) => (out = Buffer.concat([out, d])));
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    const deadline = Date.now() + 20_000;
    while (!out.includes('"welcome"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const frame = encodeClientFrame(1, Buffer.from(`{"type":"ping","id":9,"pad":"${'p'.repeat(2000)}"}`));
    let closed = false;
    s.once('close', () => (closed = true));
    // one byte per event-loop turn: the gateway (in this process) reads each as its own chunk
    for (let i = 0; i < frame.length && !closed && !s.destroyed; i++) {
      s.write(frame.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 1));
    }
    const end = Date.now() + 20_000;
    while (!closed && !out.includes('"id":9') && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    // before: the frame was read whole and answered, its ~2,000 chunks held until then
    assert.ok(!out.includes('"id":9'), 'the dribbled frame was read and answered');
    assert.ok(out.includes(Buffer.from([0x88, 0x02, 0x03, 0xf0])) || closed, 'no close 1008');
    assert.equal(g.stats().closed.message_too_big, 1);
    s.destroy();
  } finally {
    await g.close(1000);
  }
});
