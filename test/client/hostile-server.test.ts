import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type ClientOptions } from '../../src/client/index.js';
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
  // offsets are sequence numbers: a non-negative integer a double holds exactly, nothing else
  '{"type":"message","channel":"a","epoch":"e","offset":18446744073709551616,"data":1}',
  '{"type":"message","channel":"a","epoch":"e","offset":-3,"data":1}',
  '{"type":"message","channel":"a","epoch":"e","offset":1.5,"data":1}',
  '{"type":"subscribed","id":1,"channel":"a","epoch":"e","offset":-1}',
  '{"type":"subscribed","id":1,"channel":"a","epoch":"e","offset":0,"recovered":true,"replayed":-2}',
  '{"type":"published","id":1,"channel":"a","epoch":"e","offset":1e300}',
  '{"type":"presence","id":1,"channel":"a","connections":-1,"users":0,"anonymous":0,"subs":[],"truncated":false}',
  '{"type":"presence","id":1,"channel":"a","connections":1,"users":0.5,"anonymous":0,"subs":[{"sub":"x","connections":-4}],"truncated":false}',
  '{"type":"pong","id":-1}',
];

/** An SDK client of the fake server that retries fast and never opens its circuit, with the error events it emitted. */
function fastClient(fake: FakeServer, extra: Partial<ClientOptions> = {}): { c: Client; errors: FloodgateError[] } {
  const c = new Client(fake.url, { initialDelay: 10, maxDelay: 100, connectTimeout: 2000, circuitThreshold: 0, ...extra });
  const errors: FloodgateError[] = [];
  c.on('error', (e) => errors.push(e as FloodgateError));
  return { c, errors };
}

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
  const { c, errors } = fastClient(fake);
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

test('a `message` whose offset is not a sequence number (2^64, negative, fractional) is an error event, never delivered, and does not poison the position', { timeout: 120_000 }, async () => {
  const fake = await FakeServer.start();
  const { c, errors } = fastClient(fake);
  const got: unknown[] = [];
  try {
    await c.ready(5000);
    const sub = c.subscribe('a', (m) => got.push(m.data));
    await until(() => sub.state === 'subscribed');
    // before: delivered as valid, and the real offset 1 that followed was dropped as a "duplicate"
    fake.broadcast({ type: 'message', channel: 'a', epoch: 'fake-epoch', offset: 2 ** 64, data: 'poison' });
    fake.broadcast({ type: 'message', channel: 'a', epoch: 'fake-epoch', offset: -3, data: 'negative' });
    fake.broadcast({ type: 'message', channel: 'a', epoch: 'fake-epoch', offset: 0.5, data: 'fraction' });
    fake.broadcast({ type: 'message', channel: 'a', epoch: 'fake-epoch', offset: 1, data: 'real' });
    await until(() => got.length >= 1);
    await c.publish('a', 0); // a round trip: everything sent before it has been read
    assert.deepEqual(got, ['real']);
    assert.equal(sub.offset, 1);
    assert.equal(errors.length, 3, errors.map((e) => e.message).join('; '));
    assert.ok(errors.every((e) => e.code === 'FG_ERR_BAD_FRAME' && /offset/.test(e.message)), errors.map((e) => e.message).join('; '));
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('a binary frame from the server is an FG_ERR_BINARY_FRAME error event (the protocol is text only); the connection carries on', { timeout: 120_000 }, async () => {
  const fake = await FakeServer.start();
  const { c, errors } = fastClient(fake);
  try {
    await c.ready(5000);
    for (const ws of fake.sockets) ws.send(Buffer.from('{"type":"message","channel":"a","epoch":"e","offset":1,"data":1}'), { binary: true });
    await until(() => errors.length >= 1); // before: dropped in silence
    assert.equal(errors[0]!.code, 'FG_ERR_BINARY_FRAME');
    assert.equal(c.state, 'connected');
    assert.deepEqual(await c.publish('a', 1), { epoch: 'fake-epoch', offset: 1 });
  } finally {
    await c.close();
    await fake.stop();
  }
});

/** Raw bytes the ws library refuses to read: each breaks RFC 6455 on the server's side. */
const BROKEN_WIRE: [string, Buffer][] = [
  ['invalid UTF-8 in a text frame', Buffer.from([0x81, 0x02, 0xc3, 0x28])],
  ['RSV1 without an extension', Buffer.from([0xc1, 0x02, 0x7b, 0x7d])],
  ['a masked server frame', Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x7a, 0x7f])],
  ['close code 1005 on the wire', Buffer.from([0x88, 0x02, 0x03, 0xed])],
  ['close reason that is not UTF-8', Buffer.from([0x88, 0x04, 0x03, 0xe9, 0xff, 0xfe])],
  ['a ping of 126 bytes', Buffer.concat([Buffer.from([0x89, 0x7e, 0x00, 0x7e]), Buffer.alloc(126)])],
  ['an unknown opcode', Buffer.from([0x83, 0x00])],
];

test('a server that breaks the WebSocket protocol: an FG_ERR_BAD_FRAME error event naming the violation, then a reconnect (not a silent 1006, not a stop)', { timeout: 120_000 }, async () => {
  const fake = await FakeServer.start();
  const c = new Client(fake.url, { initialDelay: 10, maxDelay: 100, connectTimeout: 2000, circuitThreshold: 0 });
  const errors: FloodgateError[] = [];
  const drops: { code: number; reconnect: boolean }[] = [];
  c.on('error', (e) => errors.push(e as FloodgateError));
  c.on('disconnected', (d) => drops.push(d));
  try {
    for (const [what, bytes] of BROKEN_WIRE) {
      await c.ready(5000);
      const before = errors.length;
      const dropsBefore = drops.length;
      for (const ws of fake.sockets) (ws as unknown as { _socket: import('node:net').Socket })._socket.write(bytes);
      await until(() => drops.length > dropsBefore, 5000, `${what}: the drop`);
      assert.equal(drops.at(-1)!.reconnect, true, what);
      const err = errors.slice(before).find((e) => e.code === 'FG_ERR_BAD_FRAME');
      assert.ok(err, `${what}: no FG_ERR_BAD_FRAME event (got ${errors.slice(before).map((e) => e.code).join(', ') || 'none'})`);
      assert.match(err.message, /WebSocket protocol/, what);
      await until(() => c.state === 'connected', 5000, `${what}: the reconnect`);
    }
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('maxMessageBytes bounds what one server message may make the client hold: a larger one ends the connection with an error event, unread, and the client reconnects', { timeout: 120_000 }, async () => {
  assert.throws(() => new Client('ws://127.0.0.1:1/', { autoConnect: false, maxMessageBytes: 10 }), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /maxMessageBytes/.test(e.message));
  const fake = await FakeServer.start();
  const { c, errors } = fastClient(fake, { maxMessageBytes: 1024 * 1024 });
  const got: number[] = [];
  try {
    await c.ready(5000);
    const sub = c.subscribe('a', (m) => got.push((m.data as string).length));
    await until(() => sub.state === 'subscribed');
    fake.broadcast({ type: 'message', channel: 'a', epoch: 'fake-epoch', offset: 1, data: 'x'.repeat(100_000) });
    await until(() => got.length === 1);
    const session = [...fake.sockets][0];
    // before: the ws library's own bound (100 MiB) applied, so this was read and delivered
    fake.broadcast({ type: 'message', channel: 'a', epoch: 'fake-epoch', offset: 2, data: 'y'.repeat(2 * 1024 * 1024) });
    await until(() => errors.some((e) => e.code === 'FG_ERR_BAD_FRAME'), 10_000, 'the error event');
    assert.match(errors.find((e) => e.code === 'FG_ERR_BAD_FRAME')!.message, /WebSocket protocol|too big|length/i);
    await until(() => c.state === 'connected' && ![...fake.sockets].includes(session!), 10_000, 'the reconnect');
    assert.deepEqual(got, [100_000]);
  } finally {
    await c.close();
    await fake.stop();
  }
});

test('a server that welcomes and drops at once gets a growing backoff, not a reconnect every initialDelay forever', { timeout: 120_000 }, async () => {
  const { createServer } = await import('node:net');
  const { createHash } = await import('node:crypto');
  const welcome = Buffer.from('{"type":"welcome","node":"n","session":"s","pingInterval":25000,"maxPayload":16384}');
  const server = createServer((s) => {
    s.on('error', () => {});
    let head = '';
    s.on('data', (d) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      s.write(Buffer.concat([Buffer.from([0x81, welcome.length]), welcome]));
      setTimeout(() => s.resetAndDestroy(), 5);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const c = new Client(`ws://127.0.0.1:${port}/`, { initialDelay: 5, multiplier: 2, maxDelay: 10_000, jitter: 0, connectTimeout: 2000, circuitThreshold: 0 });
  let connects = 0;
  c.on('connected', () => connects++);
  try {
    await until(() => connects >= 7, 30_000, '7 connects');
    const exponents = c.delays.map((d) => d.attempt);
    // before: every delay had attempt 0 (the welcome reset it), i.e. initialDelay each time
    assert.ok(exponents.at(-1)! >= 5, `backoff exponents after quick drops: ${exponents.join(', ')}`);
    assert.ok(c.delays.at(-1)!.delay > c.delays[0]!.delay * 10, `delays ${c.delays.map((d) => d.delay).join(', ')}`);
  } finally {
    await c.close();
    server.close();
  }
});

test('a ping flood is answered with one pong per event-loop turn, and the connection stays (ws alone ended it after 60 pending pongs: a silent 1006 and a reconnect)', { timeout: 120_000 }, async () => {
  const fake = await FakeServer.start();
  const c = new Client(fake.url, { initialDelay: 10, maxDelay: 100, connectTimeout: 2000, circuitThreshold: 0 });
  let drops = 0;
  c.on('disconnected', () => drops++);
  try {
    await c.ready(5000);
    const ws = [...fake.sockets][0]!;
    let pongs = 0;
    ws.on('pong', () => pongs++);
    const raw = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.write(Buffer.concat(Array.from({ length: 20_000 }, () => Buffer.from([0x89, 0x01, 0x70]))));
    assert.deepEqual(await c.publish('a', 1), { epoch: 'fake-epoch', offset: 1 }); // read after the flood
    assert.equal(drops, 0, 'the client dropped the connection');
    assert.equal(c.state, 'connected');
    await until(() => pongs >= 1, 5000, 'a pong');
    assert.ok(pongs < 2_000, `${pongs} pongs for 20,000 pings`);
  } finally {
    await c.close();
    await fake.stop();
  }
});
