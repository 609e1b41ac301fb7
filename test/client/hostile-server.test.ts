import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../../src/client/index.js';
import type { FloodgateError } from '../../src/errors.js';
import { readServerFrame } from '../../src/protocol/server-frame.js';
import { FakeServer } from './helpers/fake-server.js';
import { until } from './helpers/exactly-once.js';

const HOSTILE = [
  'not json',
  'null',
  '[]',
  '"text"',
  '{"type":42}',
  '{"type":"message","channel":"a"}',
  '{"type":"message","channel":"a","epoch":"e","offset":"1","data":1}',
  '{"type":"subscribed","id":1,"channel":7,"epoch":"e","offset":0}',
  '{"type":"published","id":1,"channel":"a","epoch":"e"}',
  '{"type":"error","id":1,"code":{},"message":"x"}',
  '{"type":"welcome","node":"n","session":"s","pingInterval":"soon","maxPayload":1}',
];

test('readServerFrame: every hostile frame is a reason, never a throw; unknown types pass', () => {
  for (const text of HOSTILE) {
    const r = readServerFrame(text);
    assert.equal(r.ok, false, text);
  }
  assert.deepEqual(readServerFrame('{"type":"future","x":1}'), { ok: true, frame: { type: 'future', x: 1 } });
  const deep = readServerFrame(`{"type":"message","channel":"a","epoch":"e","offset":1,"data":${'['.repeat(50_000)}${']'.repeat(50_000)}}`);
  assert.ok(deep.ok);
});

test('the SDK reads hostile server frames as FG_ERR_BAD_FRAME error events and keeps working', { timeout: 120_000 }, async () => {
  const fake = await FakeServer.start();
  const c = new Client(fake.url, { initialDelay: 10, maxDelay: 100, connectTimeout: 2000, circuitThreshold: 0 });
  const errors: FloodgateError[] = [];
  c.on('error', (e) => errors.push(e as FloodgateError));
  try {
    await c.ready(5000);
    const sub = c.subscribe('a');
    await until(() => sub.state === 'subscribed');
    for (const ws of fake.sockets) for (const text of HOSTILE) ws.send(text);
    await until(() => errors.length >= HOSTILE.length);
    assert.ok(errors.every((e) => e.code === 'FG_ERR_BAD_FRAME'), errors.map((e) => e.message).join('; '));
    assert.equal(c.state, 'connected');
    assert.deepEqual(await c.publish('a', { x: 1 }), { epoch: 'fake-epoch', offset: 1 });
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('an `exp` already past by the client\'s clock (a skewed clock, or a hostile server) does not spin the token function: refreshes are a second apart at least', { timeout: 120_000 }, async () => {
  const fake = await FakeServer.start();
  const past = () => Math.floor(Date.now() / 1000) - 120; // the client's clock runs 2 minutes ahead of the token issuer's
  fake.welcomeExtra = { exp: past() };
  let calls = 0;
  const c = new Client(fake.url, { token: () => `t${++calls}`, initialDelay: 10, maxDelay: 100, connectTimeout: 2000, circuitThreshold: 0 });
  const sentAt: number[] = [];
  try {
    await c.ready(5000);
    // a refresh sent before this listener was on is answered here, without a time
    for (const f of fake.frames) if (f.type === 'refresh') for (const ws of fake.sockets) ws.send(JSON.stringify({ type: 'refreshed', id: f.id, exp: past() }));
    for (const ws of fake.sockets) {
      ws.on('message', (raw) => {
        const f = JSON.parse(raw.toString());
        if (f.type !== 'refresh') return;
        sentAt.push(Date.now());
        ws.send(JSON.stringify({ type: 'refreshed', id: f.id, exp: past() }));
      });
    }
    await until(() => sentAt.length >= 4);
    const gaps = sentAt.slice(1, 4).map((t, i) => t - sentAt[i]!);
    // before the fix the SDK refreshed again at once on every `refreshed` (thousands a second)
    assert.ok(gaps.every((g) => g >= 900), `gaps between refreshes: ${gaps.join(', ')} ms`);
    assert.equal(c.state, 'connected');
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('programmer errors throw at the call: a listener that is not a function, an idempotencyKey with a lone surrogate', { timeout: 60_000 }, async () => {
  const fake = await FakeServer.start();
  const c = new Client(fake.url, { initialDelay: 10, maxDelay: 100, connectTimeout: 2000, circuitThreshold: 0 });
  try {
    await c.ready(5000);
    // before: accepted, then the first message threw "listener is not a function" out of the socket's handler
    assert.throws(() => c.subscribe('a', { presence: true } as never), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /handler/.test(e.message));
    assert.equal(c.getSubscription('a'), undefined, 'nothing was subscribed');
    assert.throws(() => c.on('connected', 'x' as never), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /listener/.test(e.message));
    const sub = c.subscribe('a');
    assert.throws(() => sub.on('message', null as never), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG');
    await assert.rejects(c.publish('a', 1, { idempotencyKey: 'k\ud800' }), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /lone surrogate/.test(e.message));
    assert.deepEqual(await c.publish('a', 1, { idempotencyKey: 'k😀' }), { epoch: 'fake-epoch', offset: 1 });
  } finally {
    await c.close();
    await fake.stop();
  }
});
