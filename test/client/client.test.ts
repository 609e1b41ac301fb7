import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type ClientOptions } from '../../src/client/index.js';
import { backoffBounds } from '../../src/client/backoff.js';
import { FloodgateError } from '../../src/errors.js';
import { FakeServer } from './helpers/fake-server.js';
import { until } from './helpers/exactly-once.js';

const fast: ClientOptions = { initialDelay: 10, maxDelay: 100, connectTimeout: 2000, circuitThreshold: 0 };


test('options are validated at construction with the field, the value and the range', () => {
  assert.throws(() => new Client('http://x', { autoConnect: false }), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /url/.test(e.message));
  assert.throws(
    () => new Client('ws://x', { jitter: 2, autoConnect: false }),
    (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && e.message === 'Expected `jitter` to be a number from 0 to 1, got `2` (number)',
  );
  assert.throws(() => new Client('ws://x', { maxAttempts: 1.5, autoConnect: false }), /maxAttempts/);
  assert.throws(() => new Client('ws://x', { initialDelay: 1000, maxDelay: 10, autoConnect: false }), /maxDelay/);
  const c = new Client('ws://x', { autoConnect: false });
  assert.throws(() => c.subscribe('bad channel!'), (e: FloodgateError) => e.code === 'FG_ERR_BAD_CHANNEL');
  c.subscribe('ok');
  assert.throws(() => c.subscribe('ok'), (e: FloodgateError) => e.code === 'FG_ERR_ALREADY_SUBSCRIBED');
  void c.close();
});

test('connects, shares one socket between subscriptions, publishes with an ack, closes cleanly', async () => {
  const fake = await FakeServer.start();
  const c = new Client(fake.url, fast);
  const states: string[] = [];
  c.on('state', (s) => states.push(`${s.oldState}>${s.newState}`));
  await c.ready(2000);
  const a = c.subscribe('a');
  const b = c.subscribe('b');
  await until(() => a.state === 'subscribed' && b.state === 'subscribed');
  assert.equal(fake.upgrades, 1);
  assert.deepEqual(await c.publish('a', { x: 1 }), { epoch: 'fake-epoch', offset: 1 });
  await c.close();
  assert.equal(c.state, 'closed');
  assert.deepEqual(states, ['disconnected>connecting', 'connecting>connected', 'connected>closed']);
  await until(() => fake.sockets.size === 0, 2000, 'server side closed');
  await assert.rejects(c.publish('a', 1), (e: FloodgateError) => e.code === 'FG_ERR_CLIENT_CLOSED');
  await assert.rejects(c.ready(10), (e: FloodgateError) => e.code === 'FG_ERR_CLIENT_CLOSED');
  await fake.stop();
});

test('reconnect delays are recorded and each lies within the jitter bounds of its attempt', async () => {
  const port = 1; // nothing listens on port 1: every attempt is refused, and no other test can take it
  const seq = [0, 0.999, 0.5, 0.1, 0.9, 0.3, 0.7];
  let i = 0;
  const opts = { initialDelay: 10, multiplier: 2, maxDelay: 80, jitter: 0.5, jitterMode: 'partial' as const };
  const c = new Client(`ws://127.0.0.1:${port}/`, { ...opts, maxAttempts: 8, circuitThreshold: 0, random: () => seq[i++ % seq.length] });
  const errors: string[] = [];
  c.on('error', (e) => errors.push(e.code));
  await until(() => c.state === 'disconnected' && errors.includes('FG_ERR_RECONNECT_EXHAUSTED'), 5000, 'exhausted');
  assert.equal(c.delays.length, 7);
  c.delays.forEach((d, n) => {
    assert.equal(d.attempt, n + 1);
    assert.equal(d.reason, 'backoff');
    const b = backoffBounds({ ...opts, random: Math.random }, d.attempt);
    assert.ok(d.delay >= Math.floor(b.min) && d.delay <= Math.ceil(b.max), `attempt ${d.attempt}: ${d.delay} not in [${b.min}, ${b.max}]`);
  });
  // The scripted random source decides where in the range each delay falls.
  assert.equal(c.delays[0].delay, Math.round(20 * 0.5));
  assert.equal(c.delays[1].delay, Math.round(40 * 0.5 + 40 * 0.999));
  assert.equal(errors.filter((e) => e === 'FG_ERR_CONNECT_FAILED').length, 8);
  await c.close();
});

test('a 503 with Retry-After is waited out (recorded delay ≥ N s), then the client connects', async () => {
  const fake = await FakeServer.start();
  fake.refuse = (n) => (n === 1 ? { status: 503, headers: { 'Retry-After': '1' } } : undefined);
  const c = new Client(fake.url, fast);
  const errors: FloodgateError[] = [];
  c.on('error', (e) => errors.push(e));
  await c.ready(5000);
  assert.equal(fake.upgrades, 2);
  assert.equal(errors[0].code, 'FG_ERR_OVER_CAPACITY');
  assert.equal(errors[0].details?.status, 503);
  assert.equal(errors[0].details?.retryAfter, 1);
  const d = c.delays[0];
  assert.equal(d.reason, 'retry-after');
  assert.equal(d.retryAfter, 1);
  assert.ok(d.delay >= 1000 && d.delay <= 1250, `delay ${d.delay}`);
  await c.close();
  await fake.stop();
});

test("a load balancer's 503 (HTML body, no Retry-After) is FG_ERR_UPSTREAM_UNAVAILABLE with the normal backoff, then the client connects", async () => {
  const fake = await FakeServer.start();
  fake.refuse = (n) => (n <= 2 ? { status: 503, body: '<html><body><h1>503 Service Unavailable</h1>No server is available.</body></html>' } : undefined);
  const c = new Client(fake.url, { ...fast, random: () => 0.5 });
  const errors: FloodgateError[] = [];
  c.on('error', (e) => errors.push(e));
  await c.ready(5000);
  assert.equal(fake.upgrades, 3);
  assert.deepEqual(errors.map((e) => [e.code, e.details?.status]), [['FG_ERR_UPSTREAM_UNAVAILABLE', 503], ['FG_ERR_UPSTREAM_UNAVAILABLE', 503]]);
  assert.deepEqual(c.delays.map((d) => [d.reason, d.retryAfter]), [['backoff', undefined], ['backoff', undefined]]);
  await c.close();
  await fake.stop();
});

test('403 stops reconnecting; a fatal close code (4002) stops too', async () => {
  const fake = await FakeServer.start();
  fake.refuse = () => ({ status: 403, body: JSON.stringify({ code: 'FG_ERR_FORBIDDEN_ORIGIN', message: 'no' }) });
  const c = new Client(fake.url, fast);
  await assert.rejects(c.ready(3000), (e: FloodgateError) => e.code === 'FG_ERR_FORBIDDEN_ORIGIN');
  assert.equal(c.state, 'disconnected');
  assert.equal(fake.upgrades, 1);
  await c.close();

  fake.refuse = undefined;
  const d = new Client(fake.url, fast);
  await d.ready(2000);
  const gone = new Promise<any>((r) => d.once('disconnected', r));
  for (const ws of fake.sockets) ws.close(4002, 'bad frames');
  const ev = await gone;
  assert.equal(ev.code, 4002);
  assert.equal(ev.reconnect, false);
  await until(() => d.state === 'disconnected');
  await d.close();
  await fake.stop();
});

test('the circuit breaker opens after N failures, tells the app, half-opens after the cool-down and closes', async () => {
  // the server's port stays ours while it is "down" (connections reset), so no other test can take it
  const fake = await FakeServer.start();
  fake.down = true;
  const c = new Client(fake.url, { initialDelay: 5, maxDelay: 20, circuitThreshold: 3, circuitWindow: 10_000, circuitCooldown: 300 });
  const circuit: string[] = [];
  c.on('circuit', (t) => circuit.push(t.state));
  const readyP = c.ready(5000);
  await assert.rejects(readyP, (e: FloodgateError) => e.code === 'FG_ERR_CIRCUIT_OPEN');
  assert.equal(c.state, 'disconnected');
  assert.equal(c.circuitState, 'open');
  const failuresWhenOpened = c.stats().failures;
  assert.equal(failuresWhenOpened, 3);
  assert.equal(c.delays.at(-1)?.reason, 'circuit-open');
  fake.down = false;
  await c.ready(5000);
  assert.deepEqual(circuit.slice(-2), ['half-open', 'closed']);
  assert.equal(circuit[0], 'open');
  assert.equal(c.circuitState, 'closed');
  await c.close();
  await fake.stop();
});

test('a connection that stops answering pings is torn down and reconnected', async () => {
  const fake = await FakeServer.start();
  fake.answerPings = false;
  const c = new Client(fake.url, { ...fast, pingInterval: 50, pongTimeout: 50 });
  await c.ready(2000);
  const ev = await new Promise<any>((r) => c.once('disconnected', r));
  assert.equal(ev.reconnect, true);
  assert.match(ev.reason, /pongTimeout/);
  await until(() => fake.upgrades >= 2 && c.state === 'connected', 3000, 'reconnected');
  assert.ok(fake.frames.some((f) => f.type === 'ping'));
  await c.close();
  await fake.stop();
});

test('a server that never sends welcome hits connectTimeout and is retried', async () => {
  const fake = await FakeServer.start();
  fake.welcome = false;
  const c = new Client(fake.url, { ...fast, connectTimeout: 100 });
  const errors: string[] = [];
  c.on('error', (e) => errors.push(e.code));
  await until(() => fake.upgrades >= 2, 3000, 'second attempt');
  assert.equal(errors[0], 'FG_ERR_CONNECT_TIMEOUT');
  await c.close();
  await until(() => fake.sockets.size === 0, 2000, 'sockets gone');
  await fake.stop();
});

test('after a drop it resubscribes with recover, drops duplicates, reports recovered:false', async () => {
  const fake = await FakeServer.start();
  const c = new Client(fake.url, fast);
  const got: number[] = [];
  const sub = c.subscribe('prices', (m) => got.push(m.offset));
  await until(() => sub.state === 'subscribed');
  for (let o = 1; o <= 3; o++) fake.broadcast({ type: 'message', channel: 'prices', epoch: 'fake-epoch', offset: o, data: o });
  await until(() => got.length === 3);
  fake.dropAll();
  await until(() => fake.frames.filter((f) => f.type === 'subscribe').length === 2, 3000, 'resubscribe');
  assert.deepEqual(fake.frames.filter((f) => f.type === 'subscribe')[1].recover, { epoch: 'fake-epoch', offset: 3 });
  await until(() => sub.state === 'subscribed');
  // The server replays 2..5: 2 and 3 were seen already and must not be delivered twice.
  for (let o = 2; o <= 5; o++) fake.broadcast({ type: 'message', channel: 'prices', epoch: 'fake-epoch', offset: o, data: o });
  await until(() => got.length === 5);
  assert.deepEqual(got, [1, 2, 3, 4, 5]);
  assert.equal(sub.stats.duplicatesDropped, 2);

  fake.recoverAnswer = () => ({ recovered: false, reason: 'history_gone' });
  fake.epoch = 'fake-epoch';
  fake.offset = 40;
  const rec = new Promise<any>((r) => c.once('recovery', r));
  fake.dropAll();
  const ev = await rec;
  assert.deepEqual(ev, { channel: 'prices', recovered: false, reason: 'history_gone', epoch: 'fake-epoch', offset: 40 });
  assert.equal(sub.offset, 40);
  await c.close();
  await fake.stop();
});

test('the native (WHATWG) transport works too: ws.WebSocket passed as options.WebSocket', async () => {
  const { WebSocket: WsWebSocket } = await import('ws');
  const fake = await FakeServer.start();
  const c = new Client(fake.url, { ...fast, WebSocket: WsWebSocket as any });
  const got: number[] = [];
  const sub = c.subscribe('n', (m) => got.push(m.offset));
  await until(() => sub.state === 'subscribed');
  fake.broadcast({ type: 'message', channel: 'n', epoch: 'fake-epoch', offset: 1, data: null });
  await until(() => got.length === 1);
  assert.equal(c.options.transport, 'native');
  fake.dropAll();
  await until(() => fake.upgrades === 2 && c.state === 'connected', 3000, 'reconnected over the native transport');
  await c.close();
  await fake.stop();
});

test('a token function is called before every attempt and sent as ?token=', async () => {
  const fake = await FakeServer.start();
  const urls: string[] = [];
  fake.http.prependListener('upgrade', (req) => urls.push(req.url ?? ''));
  let n = 0;
  const c = new Client(fake.url, { ...fast, token: async () => `t${++n}` });
  await c.ready(2000);
  fake.dropAll();
  await until(() => urls.length === 2 && c.state === 'connected', 3000, 'second connection');
  assert.deepEqual(urls, ['/?token=t1', '/?token=t2']);
  await c.close();
  await fake.stop();
});

test('unsubscribe sends the frame and stops delivery; since recovers from a stored position', async () => {
  const fake = await FakeServer.start();
  const c = new Client(fake.url, fast);
  const got: number[] = [];
  const sub = c.subscribe('u', (m) => got.push(m.offset), { since: { epoch: 'fake-epoch', offset: 7 } });
  await until(() => sub.state === 'subscribed');
  assert.deepEqual(fake.frames.find((f) => f.type === 'subscribe').recover, { epoch: 'fake-epoch', offset: 7 });
  fake.broadcast({ type: 'message', channel: 'u', epoch: 'fake-epoch', offset: 8, data: 8 });
  await until(() => got.length === 1);
  sub.unsubscribe();
  assert.equal(sub.state, 'unsubscribed');
  await until(() => fake.frames.some((f) => f.type === 'unsubscribe' && f.channel === 'u'));
  fake.broadcast({ type: 'message', channel: 'u', epoch: 'fake-epoch', offset: 9, data: 9 });
  await c.publish('other', 1); // a round trip: anything sent before it has arrived
  assert.deepEqual(got, [8]);
  assert.equal(c.getSubscription('u'), undefined);
  c.subscribe('u'); // allowed again after unsubscribe
  await c.close();
  await fake.stop();
});

test('recovered:false `unavailable` with no known position (epoch ""): no gap event, the next message is the start, a resubscribe before it does not send a bad `recover`', async () => {
  const fake = await FakeServer.start();
  fake.recoverAnswer = () => ({ recovered: false, reason: 'unavailable', epoch: '', offset: 0 });
  const c = new Client(fake.url, fast);
  try {
    const got: number[] = [];
    const sub = c.subscribe('u', (m) => got.push(m.offset), { since: { epoch: 'e1', offset: 5 } });
    await until(() => sub.state === 'subscribed', 5000, 'subscribed');
    assert.equal(sub.position, undefined);
    fake.dropAll();
    await until(() => fake.frames.filter((f) => f.type === 'subscribe').length === 2 && sub.state === 'subscribed', 5000, 'resubscribed');
    const resub = fake.frames.filter((f) => f.type === 'subscribe')[1];
    assert.equal(resub.recover, undefined, 'nothing known to recover from');
    fake.broadcast({ type: 'message', channel: 'u', epoch: 'e1', offset: 9, data: 'x' });
    fake.broadcast({ type: 'message', channel: 'u', epoch: 'e1', offset: 10, data: 'y' });
    await until(() => got.length === 2, 5000, 'two messages');
    assert.deepEqual(got, [9, 10]);
    assert.equal(sub.stats.gaps, 0);
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('a subscribe refused FG_ERR_RECOVERY_FAILED (broker down) is asked again after a backoff pause, without waiting for a reconnect', async () => {
  const fake = await FakeServer.start();
  fake.subscribeRefusal = (_f, n) => (n <= 2 ? { code: 'FG_ERR_RECOVERY_FAILED', message: 'redis broker unavailable' } : undefined);
  const c = new Client(fake.url, fast);
  try {
    const sub = c.subscribe('r');
    await until(() => sub.state === 'subscribed', 5000, 'subscribed on the third try');
    assert.equal(fake.subscribes, 3);
    assert.equal(fake.upgrades, 1, 'on the same connection');
  } finally {
    await c.close();
    await fake.stop();
  }
});
