import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type ClientOptions, type PublishResult } from '../../src/client/index.js';
import { PUBLISH_WINDOW } from '../../src/client/client.js';
import { FloodgateError } from '../../src/errors.js';
import { createGateway } from '../../src/server/gateway.js';
import { freePort } from '../helpers/redis-server.js';
import { until } from './helpers/exactly-once.js';
import { FakeServer } from './helpers/fake-server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

const quiet = { host: '127.0.0.1', port: 0, logLevel: 'silent' as const, rateBurst: 100_000, rateRefill: 100_000 };
const fast: ClientOptions = { initialDelay: 20, multiplier: 1.5, maxDelay: 200, circuitThreshold: 0, connectTimeout: 3000, requestTimeout: 15_000 };

test('an answer lost with the connection: publish() re-sends the same key after reconnecting and gets the original offset, published once', async () => {
  const g = await createGateway(quiet);
  const proxy = await new TcpProxy(g.port).start();
  const pub = new Client(`ws://127.0.0.1:${proxy.port}/`, fast);
  const sub = new Client(`ws://127.0.0.1:${g.port}/`, fast);
  try {
    const got: unknown[] = [];
    const s = sub.subscribe('once', (m) => got.push([m.offset, m.data]));
    await until(() => s.state === 'subscribed', 5000, 'subscribed');
    await pub.ready(5000);
    proxy.mute(); // the publish reaches the gateway, its answer does not come back
    const answer = pub.publish('once', 'hello');
    await until(() => g.stats().messages.publications === 1, 5000, 'the gateway published it');
    proxy.cut();
    const r = await answer;
    assert.deepEqual(r, { epoch: r.epoch, offset: 1, duplicate: true, retries: 1 });
    assert.equal(pub.stats().connects, 2);
    assert.deepEqual((await pub.publish('once', 'next')).offset, 2);
    await until(() => got.length === 2, 5000, 'two messages');
    assert.deepEqual(got, [[1, 'hello'], [2, 'next']]);
    assert.equal(g.stats().messages.duplicatePublishes, 1);
  } finally {
    await pub.close();
    await sub.close();
    await proxy.stop();
    await g.close(1000);
  }
});

test('publisher order across reconnects: 300 pipelined publishes with 3 cuts apply once each, in the order publish() was called', async () => {
  const g = await createGateway(quiet);
  const proxy = await new TcpProxy(g.port).start();
  const pub = new Client(`ws://127.0.0.1:${proxy.port}/`, fast);
  const sub = new Client(`ws://127.0.0.1:${g.port}/`, fast);
  try {
    const got: number[] = [];
    const s = sub.subscribe('order', (m) => got.push(m.data as number));
    await until(() => s.state === 'subscribed', 5000, 'subscribed');
    await pub.ready(5000);
    const answers: Promise<PublishResult>[] = [];
    for (let i = 1; i <= 300; i++) {
      answers.push(pub.publish('order', i));
      if (i % 100 === 50) {
        // some of the last frames are in flight, some answered: cut mid-stream
        const k = Math.ceil(i / 100);
        await until(() => pub.stats().connects === k && pub.state === 'connected', 5000, 'connected before the cut');
        await new Promise((r) => setImmediate(r));
        proxy.cut();
      }
    }
    const results = await Promise.all(answers);
    const offsets = results.map((r) => r.offset);
    assert.deepEqual(offsets, Array.from({ length: 300 }, (_, i) => i + 1), 'offsets follow publish() order, no gap, no second copy');
    await until(() => got.length >= 300, 10_000, 'every message delivered');
    assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => i + 1));
    assert.equal(pub.stats().connects, 4, 'three cuts, three reconnects');
    console.log(`# 300 publishes, ${pub.stats().connects} connections, ${results.filter((r) => r.duplicate).length} answered as duplicates of a re-send`);
  } finally {
    await pub.close();
    await sub.close();
    await proxy.stop();
    await g.close(1000);
  }
});

test('requestTimeout: never sent = FG_ERR_PUBLISH_FAILED; sent and unanswered = FG_ERR_PUBLISH_UNKNOWN', async () => {
  const nothing = new Client(`ws://127.0.0.1:${await freePort()}/`, { ...fast, requestTimeout: 300 });
  await assert.rejects(nothing.publish('x', 1), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_FAILED' && /not sent/.test(e.message));
  await nothing.close();

  const g = await createGateway(quiet);
  const proxy = await new TcpProxy(g.port).start();
  const c = new Client(`ws://127.0.0.1:${proxy.port}/`, { ...fast, requestTimeout: 500, pingInterval: 0 });
  try {
    await c.ready(5000);
    proxy.mute();
    await assert.rejects(c.publish('x', 1), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_UNKNOWN');
    assert.equal(g.stats().messages.publications, 1, 'it was in fact published: "unknown" was the honest answer');
    await assert.rejects(c.publish('x', 1, { idempotencyKey: '' }), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /idempotencyKey/.test(e.message));
  } finally {
    await c.close();
    await proxy.stop();
    await g.close(1000);
  }
});

test('a re-sent publish refused FG_ERR_PUBLISH_FAILED (broker down on the new path) stays unknown and is asked again with the same key', async () => {
  const fake = await FakeServer.start();
  fake.welcomeExtra = { idempotencyWindow: 300_000 };
  // 1st copy: stored, answer lost with the connection; 2nd (after reconnect): the broker is down;
  // 3rd: the broker is back and knows the key
  fake.publishAnswer = (f, n) => {
    if (n === 1) {
      setImmediate(() => fake.dropAll());
      return null;
    }
    if (n === 2) return { type: 'error', id: f.id, code: 'FG_ERR_PUBLISH_FAILED', message: 'redis broker unavailable', channel: f.channel };
    return { type: 'published', id: f.id, channel: f.channel, epoch: 'fake-epoch', offset: 1, duplicate: true };
  };
  const c = new Client(fake.url, fast);
  try {
    await c.ready(5000);
    const r = await c.publish('p', 'x');
    assert.deepEqual(r, { epoch: 'fake-epoch', offset: 1, duplicate: true, retries: 2 });
    const sent = fake.frames.filter((f) => f.type === 'publish');
    assert.equal(sent.length, 3);
    assert.equal(new Set(sent.map((f) => `${f.idempotencyKey}|${f.publisher}|${f.seq}`)).size, 1, 'the same key, publisher and seq every time');
    // a first attempt refused FG_ERR_PUBLISH_FAILED is final: nothing was sent before it
    fake.publishAnswer = (f) => ({ type: 'error', id: f.id, code: 'FG_ERR_PUBLISH_FAILED', message: 'down', channel: f.channel });
    await assert.rejects(c.publish('p', 'y'), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_FAILED');
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('an outcome-unknown answer holds newer publishes back until it is re-sent, so the re-send is applied in order instead of refused as stale', async () => {
  const fake = await FakeServer.start();
  fake.welcomeExtra = { idempotencyWindow: 300_000 };
  // the fake plays a broker that dedupes keys and refuses a publisher's stale seq, like the real
  // ones (publish-guard.ts, the Redis script); its first answer is "timed out"
  const keys = new Map<string, number>();
  let lastSeq = 0;
  fake.publishAnswer = (f, n) => {
    if (n === 1) return { type: 'error', id: f.id, code: 'FG_ERR_PUBLISH_UNKNOWN', message: 'redis broker: timed out', channel: f.channel };
    const known = keys.get(f.idempotencyKey);
    if (known !== undefined) return { type: 'published', id: f.id, channel: f.channel, epoch: 'e', offset: known, duplicate: true };
    if (f.seq <= lastSeq) return { type: 'error', id: f.id, code: 'FG_ERR_PUBLISH_OUT_OF_ORDER', message: `seq ${f.seq} after ${lastSeq}`, channel: f.channel };
    lastSeq = f.seq;
    keys.set(f.idempotencyKey, keys.size + 1);
    return { type: 'published', id: f.id, channel: f.channel, epoch: 'e', offset: keys.size };
  };
  const c = new Client(fake.url, fast);
  try {
    await c.ready(5000);
    const first = c.publish('p', 1);
    // a subscribe answered after the "unknown" answer: once it is subscribed, the client has
    // read that answer too (frames are handled in order), and publishes 2 and 3 come after it
    const s = c.subscribe('marker');
    await until(() => s.state === 'subscribed', 5000, 'subscribed');
    const later = [c.publish('p', 2), c.publish('p', 3)];
    const results = await Promise.all([first, ...later]);
    assert.deepEqual(results.map((r) => r.offset), [1, 2, 3], 'applied in publish() order');
    assert.equal(results[0].retries, 1);
    const seqs = fake.frames.filter((f) => f.type === 'publish').map((f) => f.seq);
    assert.deepEqual(seqs, [1, 1, 2, 3], 'the re-send went out before anything newer');
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('a publish that waited behind the window until its answer could no longer come in time is not sent: FG_ERR_PUBLISH_FAILED, never "unknown"', async () => {
  const fake = await FakeServer.start();
  fake.welcomeExtra = { idempotencyWindow: 300_000 };
  const held: any[] = [];
  let offset = 0;
  const answer = (f: any): void => fake.broadcast({ type: 'published', id: f.id, channel: f.channel, epoch: 'e', offset: ++offset });
  // the first publish is answered after 1.5 s: answers take that long on this connection
  fake.publishAnswer = (f, n) => {
    if (n === 1) setTimeout(() => answer(f), 1500);
    else held.push(f);
    return null;
  };
  const c = new Client(fake.url, { ...fast, requestTimeout: 4000 });
  try {
    await c.ready(5000);
    await c.publish('w', 0);
    // a full window (256) in flight, one more waiting in the outbox
    const window = Array.from({ length: PUBLISH_WINDOW }, (_, i) => c.publish('w', i + 1));
    const waiting = c.publish('w', 'late');
    const waitingSeq = PUBLISH_WINDOW + 2;
    await until(() => held.length === PUBLISH_WINDOW, 5000, 'the window sent');
    // answers stall; when one finally comes, the waiting publish has less time left than an answer takes
    await new Promise((r) => setTimeout(r, 3000));
    answer(held.shift());
    await assert.rejects(waiting, (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_FAILED' && /not sent/.test(e.message));
    assert.ok(!fake.frames.some((f) => f.type === 'publish' && f.seq === waitingSeq), 'it never went out');
    for (const f of held.splice(0)) answer(f);
    await Promise.allSettled(window);
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('rate-limited publishes: the gateway\'s error carries each frame\'s id, so exactly the dropped publishes reject FG_ERR_RATE_LIMITED (not published)', async () => {
  // a refill of one token per 1000 s: only the burst passes, whatever the machine's speed
  const g = await createGateway({ ...quiet, rateBurst: 5, rateRefill: 0.001 });
  const c = new Client(`ws://127.0.0.1:${g.port}/`, { ...fast, pingInterval: 0 });
  try {
    await c.ready(5000);
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => c.publish('rl', i)));
    const codes = outcomes.map((o) => (o.status === 'fulfilled' ? `offset ${o.value.offset}` : (o.reason as FloodgateError).code));
    assert.deepEqual(codes, ['offset 1', 'offset 2', 'offset 3', 'offset 4', 'offset 5', 'FG_ERR_RATE_LIMITED', 'FG_ERR_RATE_LIMITED', 'FG_ERR_RATE_LIMITED']);
    assert.equal(g.stats().messages.publications, 5, 'the refused ones were not published');
  } finally {
    await c.close();
    await g.close(1000);
  }
});

test('a re-sent publish dropped by a rate limit says nothing of its earlier copy: asked again with the same key, it gets the original position', async () => {
  const fake = await FakeServer.start();
  fake.welcomeExtra = { idempotencyWindow: 300_000 };
  fake.publishAnswer = (f, n) => {
    if (n === 1) {
      setImmediate(() => fake.dropAll()); // stored, answer lost with the connection
      return null;
    }
    if (n === 2) return { type: 'error', id: f.id, code: 'FG_ERR_RATE_LIMITED', message: 'more than 1/s; frame dropped' };
    return { type: 'published', id: f.id, channel: f.channel, epoch: 'fake-epoch', offset: 1, duplicate: true };
  };
  const c = new Client(fake.url, fast);
  try {
    await c.ready(5000);
    assert.deepEqual(await c.publish('p', 'x'), { epoch: 'fake-epoch', offset: 1, duplicate: true, retries: 2 });
  } finally {
    await c.close();
    await fake.stop();
  }
});
