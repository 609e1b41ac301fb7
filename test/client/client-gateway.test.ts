import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type ClientOptions, type RecoveryEvent } from '../../src/client/index.js';
import { FloodgateError } from '../../src/errors.js';
import { createGateway } from '../../src/server/gateway.js';
import { exactlyOnceScenario, until } from './helpers/exactly-once.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

const quiet = { host: '127.0.0.1', port: 0, logLevel: 'silent' as const };
const fast: ClientOptions = { initialDelay: 20, multiplier: 1.5, maxDelay: 200, circuitThreshold: 0, connectTimeout: 3000 };


test('exactly once and in order across random disconnects: 4 clients × 2 channels × 2,500 messages', async () => {
  const g = await createGateway({ ...quiet, historySize: 10_000, rateBurst: 1_000_000, rateRefill: 1_000_000 });
  try {
    console.log(`# ${await exactlyOnceScenario(g.port)}`);
  } finally {
    await g.close(1000);
  }
});

test('missing more than the history window reports recovered:false history_gone, then continues live', async () => {
  const g = await createGateway({ ...quiet, historySize: 10, rateBurst: 10_000, rateRefill: 10_000 });
  const proxy = await new TcpProxy(g.port).start();
  const c = new Client(`ws://127.0.0.1:${proxy.port}/`, fast);
  const pub = new Client(`ws://127.0.0.1:${g.port}/`, fast);
  try {
    const got: number[] = [];
    const sub = c.subscribe('feed', (m) => got.push(m.offset));
    await until(() => sub.state === 'subscribed', 5000, 'subscribed');
    for (let i = 0; i < 5; i++) await pub.publish('feed', i);
    await until(() => got.length === 5, 5000, 'first 5');
    await proxy.stop();
    for (let i = 0; i < 50; i++) await pub.publish('feed', i);
    const recovery = new Promise<RecoveryEvent>((r) => c.once('recovery', r));
    await proxy.start();
    const ev = await recovery;
    assert.equal(ev.recovered, false);
    assert.equal(ev.reason, 'history_gone');
    assert.equal(ev.offset, 55);
    await pub.publish('feed', 'live');
    await until(() => got.length === 6, 5000, 'live message');
    assert.deepEqual(got, [1, 2, 3, 4, 5, 56]);
    assert.equal(sub.stats.gaps, 0);
  } finally {
    await c.close();
    await pub.close();
    await proxy.stop();
    await g.close(1000);
  }
});

test('the gateway answers 503 + Retry-After when full: the client waits at least that long, then gets in', async () => {
  const g = await createGateway({ ...quiet, maxConnections: 1, admissionTimeout: 0, retryAfter: 1 });
  const a = new Client(`ws://127.0.0.1:${g.port}/`, fast);
  await a.ready(5000);
  const b = new Client(`ws://127.0.0.1:${g.port}/`, fast);
  try {
    const first = await new Promise<FloodgateError>((r) => b.once('error', r));
    assert.equal(first.code, 'FG_ERR_OVER_CAPACITY');
    assert.equal(first.details?.status, 503);
    const d = await new Promise<any>((r) => (b.delays.length > 0 ? r(b.delays[0]) : b.once('reconnecting', r)));
    assert.equal(d.reason, 'retry-after');
    assert.ok(d.delay >= 1000 && d.delay <= 1250, `delay ${d.delay}`);
    await a.close();
    await b.ready(5000);
    assert.equal(g.stats().admission.rejected.over_capacity, 1);
  } finally {
    await a.close();
    await b.close();
    await g.close(1000);
  }
});

test('a gateway restart on the same port: close code 1001, reconnect, recovered:false epoch_changed', async () => {
  let g = await createGateway({ ...quiet });
  const port = g.port;
  const c = new Client(`ws://127.0.0.1:${port}/`, fast);
  try {
    const got: number[] = [];
    c.subscribe('news', (m) => got.push(m.offset));
    await c.ready(5000);
    await until(() => c.getSubscription('news')?.state === 'subscribed', 5000, 'subscribed');
    await c.publish('news', 1);
    await until(() => got.length === 1, 5000, 'message');
    const gone = new Promise<any>((r) => c.once('disconnected', r));
    const recovery = new Promise<RecoveryEvent>((r) => c.once('recovery', r));
    await g.close(1000);
    assert.equal((await gone).code, 1001);
    g = await createGateway({ ...quiet, port });
    const ev = await recovery;
    assert.equal(ev.recovered, false);
    assert.equal(ev.reason, 'epoch_changed');
    await c.publish('news', 2);
    await until(() => got.length === 2, 5000, 'message after restart');
    assert.deepEqual(got, [1, 1]);
  } finally {
    await c.close();
    await g.close(1000);
  }
});

test('150 subscriptions resubscribe under a tight rate limit without being closed for it (4029)', async () => {
  const g = await createGateway({ ...quiet, rateBurst: 20, rateRefill: 200, rateLimitClose: 50, maxSubscriptions: 200 });
  const proxy = await new TcpProxy(g.port).start();
  const c = new Client(`ws://127.0.0.1:${proxy.port}/`, fast);
  const disconnects: number[] = [];
  c.on('disconnected', (d) => disconnects.push(d.code));
  const errors: string[] = [];
  c.on('error', (e) => errors.push(e.code));
  try {
    const subs = Array.from({ length: 150 }, (_, i) => c.subscribe(`many-${i}`));
    await until(() => subs.every((s) => s.state === 'subscribed'), 15_000, 'all 150 subscribed');
    proxy.cut();
    await until(() => disconnects.length === 1, 5000, 'drop');
    await until(() => c.state === 'connected' && subs.every((s) => s.state === 'subscribed'), 15_000, 'all 150 resubscribed');
    assert.deepEqual(disconnects, [1006], 'only the cut, no 4029');
    assert.deepEqual(errors.filter((e) => e !== 'FG_ERR_CONNECT_FAILED' && e !== 'FG_ERR_RATE_LIMITED'), []);
    // refusals now carry the subscribe's id, so the SDK requeues it without an app-level error event
    assert.ok(g.stats().messages.rateLimited > 0, 'the rate limit was really hit');
    assert.ok(g.stats().connections.current >= 1);
  } finally {
    await c.close();
    await proxy.stop();
    await g.close(1000);
  }
});

test('a publish larger than the server maxPayload is refused locally instead of closing the connection', async () => {
  const g = await createGateway({ ...quiet, maxPayload: 1024 });
  const c = new Client(`ws://127.0.0.1:${g.port}/`, fast);
  try {
    await c.ready(5000);
    await assert.rejects(c.publish('big', 'x'.repeat(2000)), (e: FloodgateError) => e.code === 'FG_ERR_PAYLOAD_TOO_LARGE');
    await assert.rejects(c.publish('big', 'é'.repeat(600)), (e: FloodgateError) => e.code === 'FG_ERR_PAYLOAD_TOO_LARGE');
    assert.equal((await c.publish('big', 'small')).offset, 1);
    assert.equal(c.state, 'connected');
  } finally {
    await c.close();
    await g.close(1000);
  }
});
