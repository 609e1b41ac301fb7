// The SDK's documented behaviour against the real gateway (not the scriptable fake server):
// token functions with real auth, unsubscribe, `since`, publish acks, the close codes that stop
// it, FG_ERR_NOT_READY and a throwing listener. (What a publish in flight during a drop turns into
// is the publish-semantics work's to test.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Client, type ClientOptions } from '../../src/client/index.js';
import { FloodgateError } from '../../src/errors.js';
import { createGateway } from '../../src/server/gateway.js';
import { createToken } from '../../src/auth/create-token.js';
import { until } from './helpers/exactly-once.js';

const quiet = { host: '127.0.0.1', port: 0, logLevel: 'silent' as const };
const fast: ClientOptions = { initialDelay: 20, multiplier: 1.5, maxDelay: 200, circuitThreshold: 0, connectTimeout: 3000 };
const inAMinute = (): number => Math.floor(Date.now() / 1000) + 60;

/**
 * A TCP proxy in front of the gateway that can hold what the client sends (nothing reaches the
 * server) and inject raw bytes toward the server, as if the client had sent them.
 */
class Relay {
  private server: Server | undefined;
  private readonly pairs: { client: Socket; upstream: Socket; held: Buffer[] }[] = [];
  hold = false;
  port = 0;
  constructor(private readonly target: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: this.target });
      const pair = { client, upstream, held: [] as Buffer[] };
      this.pairs.push(pair);
      for (const s of [client, upstream]) s.on('error', () => {});
      client.on('data', (d: Buffer) => (this.hold ? pair.held.push(d) : upstream.write(d)));
      upstream.on('data', (d: Buffer) => client.write(d));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Bytes of `held` (client → server) frames waiting in the relay. */
  get heldBytes(): number {
    return this.pairs.reduce((n, p) => n + p.held.reduce((m, b) => m + b.length, 0), 0);
  }

  /** Writes bytes to the server on the newest connection, as if the client had sent them. */
  inject(bytes: Buffer): void {
    this.pairs.at(-1)!.upstream.write(bytes);
  }

  cut(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A masked client→server frame (RFC 6455 §5.2) with a 7- or 16-bit length. */
function clientFrame(firstByte: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  const len = payload.length;
  const header = len < 126 ? Buffer.from([firstByte, 0x80 | len]) : Buffer.from([firstByte, 0x80 | 126, len >> 8, len & 0xff]);
  return Buffer.concat([header, mask, masked]);
}

test('a token function with real auth: an expired token is refused (401), the next call gets a fresh one in', async () => {
  const secret = 'fn-secret';
  const g = await createGateway({ ...quiet, authSecret: secret });
  const tokens = [createToken(secret, { sub: 'u', exp: Math.floor(Date.now() / 1000) - 5 }), createToken(secret, { sub: 'u', exp: inAMinute() })];
  let calls = 0;
  const c = new Client(`ws://127.0.0.1:${g.port}/`, { ...fast, token: async () => tokens[Math.min(calls++, 1)] });
  const errors: string[] = [];
  c.on('error', (e) => errors.push(e.code));
  try {
    await c.ready(10_000);
    assert.equal(calls, 2);
    assert.deepEqual(errors, ['FG_ERR_UNAUTHORIZED']);
    assert.equal(g.stats().admission.rejected.unauthorized, 1);
    assert.equal(g.stats().connections.current, 1);
    // and it is a working connection: a publish is acknowledged
    assert.equal((await c.publish('t', 1)).offset, 1);
  } finally {
    await c.close();
    await g.close(1000);
  }
});

test('a fixed token the gateway refuses (401): FG_ERR_UNAUTHORIZED, no retry, disconnected', async () => {
  const secret = 'fixed-secret';
  const g = await createGateway({ ...quiet, authSecret: secret });
  const c = new Client(`ws://127.0.0.1:${g.port}/`, { ...fast, token: createToken('not-the-secret', { exp: inAMinute() }) });
  try {
    await assert.rejects(c.ready(10_000), (e: FloodgateError) => e.code === 'FG_ERR_UNAUTHORIZED');
    assert.equal(c.state, 'disconnected');
    // a good fixed token gets in, and the refused client did not try again meanwhile
    const ok = new Client(`ws://127.0.0.1:${g.port}/`, { ...fast, token: createToken(secret, { exp: inAMinute() }) });
    await ok.ready(10_000);
    await ok.close();
    assert.equal(g.stats().admission.rejected.unauthorized, 1);
    assert.equal(c.state, 'disconnected');
  } finally {
    await c.close();
    await g.close(1000);
  }
});

test('publish acks, unsubscribe and `since` against the gateway', async () => {
  const g = await createGateway({ ...quiet, historySize: 100 });
  const url = `ws://127.0.0.1:${g.port}/`;
  const pub = new Client(url, fast);
  const a = new Client(url, fast);
  const b = new Client(url, fast);
  try {
    const got: number[] = [];
    const sub = a.subscribe('s', (m) => got.push(m.offset));
    await until(() => sub.state === 'subscribed', 5000, 'subscribed');
    const acks = [];
    for (let i = 1; i <= 3; i++) acks.push(await pub.publish('s', { i }));
    assert.deepEqual(acks.map((x) => x.offset), [1, 2, 3]);
    assert.equal(new Set(acks.map((x) => x.epoch)).size, 1, 'one epoch');
    assert.equal(acks[0].epoch, sub.epoch);
    await until(() => got.length === 3, 5000, 'three messages');
    assert.deepEqual(got, [1, 2, 3]);

    sub.unsubscribe();
    assert.equal(sub.state, 'unsubscribed');
    await until(() => g.stats().channels.subscriptions === 0, 5000, 'the gateway dropped the subscription');
    await pub.publish('s', { i: 4 });
    // the gateway writes a publication to its subscribers before it answers any later request,
    // so after this round trip of a's own nothing for a is still on its way
    await a.publish('elsewhere', 0);
    assert.deepEqual(got, [1, 2, 3]);

    // since: a position stored elsewhere; the gateway replays what came after it, then live ones
    const later: number[] = [];
    const recovered = new Promise<any>((r) => b.subscribe('s', (m) => later.push(m.offset), { since: { epoch: acks[0].epoch, offset: 2 } }).once('subscribed', r));
    const ev = await recovered;
    assert.deepEqual([ev.recovered, ev.replayed], [true, 2]);
    await pub.publish('s', { i: 5 });
    await until(() => later.length === 3, 5000, 'replayed and live');
    assert.deepEqual(later, [3, 4, 5]);
  } finally {
    await Promise.all([pub.close(), a.close(), b.close()]);
    await g.close(1000);
  }
});

for (const [code, name, bytes] of [
  [1002, 'a protocol error (RSV1 set without an extension)', clientFrame(0xc1, Buffer.from('{}'))],
  [1007, 'invalid UTF-8 in a text frame', clientFrame(0x81, Buffer.from([0xff, 0xfe]))],
  [1009, 'a frame over maxPayload', clientFrame(0x81, Buffer.alloc(2000, 0x61))],
] as const) {
  test(`the gateway closes with ${code} on ${name}, and the SDK stops instead of reconnecting`, async () => {
    const g = await createGateway({ ...quiet, maxPayload: 1024 });
    const relay = await new Relay(g.port).start();
    const c = new Client(`ws://127.0.0.1:${relay.port}/`, fast);
    try {
      await c.ready(10_000);
      const gone = new Promise<any>((r) => c.once('disconnected', r));
      const stopped = new Promise<FloodgateError>((r) => c.once('error', r));
      relay.inject(bytes);
      const ev = await gone;
      assert.deepEqual([ev.code, ev.reconnect], [code, false]);
      const err = await stopped;
      assert.deepEqual([err.code, err.details?.closeCode], ['FG_ERR_BAD_FRAME', code]);
      await until(() => c.state === 'disconnected', 5000, 'disconnected');
      assert.equal(c.delays.length, 0, 'no reconnect was scheduled');
      assert.equal(g.stats().admission.admitted, 1);
    } finally {
      await c.close();
      await relay.stop();
      await g.close(1000);
    }
  });
}

test('ready(timeout) rejects with FG_ERR_NOT_READY while the upgrade cannot complete', async () => {
  const g = await createGateway(quiet);
  const relay = await new Relay(g.port).start();
  relay.hold = true; // the upgrade request never reaches the gateway
  const c = new Client(`ws://127.0.0.1:${relay.port}/`, { ...fast, connectTimeout: 60_000 });
  try {
    await until(() => relay.heldBytes > 0, 5000, 'the upgrade request was sent');
    await assert.rejects(c.ready(200), (e: FloodgateError) => e.code === 'FG_ERR_NOT_READY' && e.details?.state === 'connecting');
    assert.equal(c.state, 'connecting');
  } finally {
    await c.close();
    await relay.stop();
    await g.close(1000);
  }
});

test('a listener that throws does not stop other listeners or later messages; the error is rethrown on a later tick', async () => {
  const g = await createGateway(quiet);
  const url = `ws://127.0.0.1:${g.port}/`;
  const c = new Client(url, fast);
  const pub = new Client(url, fast);
  // the test runner treats an uncaught exception as a failure: take it over for this test only
  const runnerHandlers = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const thrown: unknown[] = [];
  process.on('uncaughtException', (e) => thrown.push(e));
  try {
    const boom = new Error('listener bug');
    const seen: number[] = [];
    c.on('message', () => {
      throw boom;
    });
    c.on('message', (m) => seen.push(m.offset));
    const sub = c.subscribe('t');
    await until(() => sub.state === 'subscribed', 5000, 'subscribed');
    await pub.publish('t', 1);
    await pub.publish('t', 2);
    await until(() => seen.length === 2 && thrown.length === 2, 5000, 'both messages seen, both errors rethrown');
    assert.deepEqual(seen, [1, 2]);
    assert.deepEqual(thrown, [boom, boom]);
    assert.equal(c.state, 'connected');
    assert.equal(sub.stats.delivered, 2);
  } finally {
    process.removeAllListeners('uncaughtException');
    for (const h of runnerHandlers) process.on('uncaughtException', h);
    await Promise.all([c.close(), pub.close()]);
    await g.close(1000);
  }
});
