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
