import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyOrder } from '../../src/server/reply-order.js';
import { createGateway } from '../../src/server/gateway.js';
import { openPeer } from '../helpers/ws-peer.js';

test('ReplyOrder: immediate answers wait behind reserved ones; filled out of order, they leave in order', () => {
  const out: string[] = [];
  const r = new ReplyOrder();
  r.run(() => out.push('a'));
  assert.deepEqual(out, ['a'], 'nothing outstanding: straight through');
  const s1 = r.reserve();
  const s2 = r.reserve();
  r.run(() => out.push('d'));
  r.fill(s2, () => out.push('c'));
  assert.deepEqual(out, ['a']);
  r.fill(s1, () => {
    out.push('b');
    r.run(() => out.push('b2')); // part of the answer being flushed
  });
  assert.deepEqual(out, ['a', 'b', 'b2', 'c', 'd']);
  assert.equal(r.idle, true);
  const s3 = r.reserve();
  r.run(() => out.push('f'));
  assert.throws(() => r.fill(s3, () => { throw new Error('boom'); }), /boom/);
  assert.deepEqual(out.slice(-1), ['f'], 'a failing answer does not hold back the ones after it');
  assert.equal(r.idle, true);
});

test('160 subscribes at once: 100 answers in order, refusals carry their ids, the 4029 close comes last', { timeout: 120_000 }, async () => {
  // a refill of one token per 1000 s: no token comes back during the test, whatever the machine's speed
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', rateRefill: 0.001 });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    for (let i = 1; i <= 160; i++) p.send({ type: 'subscribe', id: i, channel: `ch${i}` });
    assert.equal(await p.closed, 4029);
    const answers = p.frames.filter((f) => f.type !== 'welcome');
    assert.deepEqual(answers.slice(0, 100).map((f) => [f.type, f.id]), Array.from({ length: 100 }, (_, i) => ['subscribed', i + 1]));
    // rateLimitClose = 50: frames 101–149 are refused with an error each, frame 150 closes
    assert.deepEqual(answers.slice(100).map((f) => [f.type, f.code, f.id]), Array.from({ length: 49 }, (_, i) => ['error', 'FG_ERR_RATE_LIMITED', 101 + i]));
    assert.equal(g.stats().closed.rate_limited, 1);
  } finally {
    await g.close(1000);
  }
});

test('publish acks, pongs and errors leave in request order', { timeout: 120_000 }, async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    const sent: number[] = [];
    for (let i = 1; i <= 30; i++) {
      sent.push(i);
      if (i % 3 === 0) p.send({ type: 'ping', id: i });
      else if (i % 3 === 1) p.send({ type: 'publish', id: i, channel: 'c', data: i });
      else p.send({ type: 'unsubscribe', id: i, channel: 'never' });
    }
    const got = await p.count((f) => f.id !== undefined, 30);
    assert.deepEqual(got.map((f) => f.id), sent);
    p.close();
  } finally {
    await g.close(1000);
  }
});
