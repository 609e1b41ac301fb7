import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { encodeClientFrame } from '../../src/loadgen/ws-frames.js';
import { readRss } from '../../src/system/process-usage.js';
import { killGroup, startBuiltGateway } from '../helpers/built-gateway.js';

/**
 * Adversarial fuzz run against a real `floodgate serve` process: a canary client pings
 * throughout, and each class of hostile input is sent as a bounded, generated stream. After each
 * class: the process is alive, the canary got an answer (within a generous ceiling, not a timing
 * assertion), RSS stayed bounded, and /stats counted the class. Replay a failure with the seed it
 * prints: FG_FUZZ_SEED=<seed> node scripts/run-tests.mjs hostile-fuzz
 */
const seed = process.env.FG_FUZZ_SEED ? Number(process.env.FG_FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;
/** Ceiling for anything we wait on: generous, for a busy 2-core machine. */
const CEILING = 20_000;

/** Values drawn from fast-check arbitraries with the run's seed (one stream per class). */
function sample<T>(arb: fc.Arbitrary<T>, n: number, salt: number): T[] {
  return fc.sample(arb, { seed: (seed + salt) | 0, numRuns: n });
}

interface Server { child: ChildProcess; port: number }

async function startServer(): Promise<Server> {
  const { child, port } = await startBuiltGateway(['--log-level', 'error', '--handshake-timeout', '1s',
    // small enough for one class to cross both: the bounds must hold, with codes, under a flood
    '--history-memory', '2mb', '--max-channels', '300', '--max-idempotency-keys', '100'], { ceilingMs: CEILING });
  return { child, port };
}

async function stats(port: number): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/stats`, { signal: AbortSignal.timeout(CEILING) });
  return res.json();
}

/** A well-behaved client that keeps pinging; roundTrip() waits for one fresh answer. */
class Canary {
  private ws!: WebSocket;
  private id = 0;
  private waiting = new Map<number, () => void>();
  closed: number | undefined;

  async open(port: number): Promise<void> {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    this.ws.on('close', (code) => (this.closed = code));
    this.ws.on('error', () => {});
    this.ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString());
      if (f.type === 'pong') this.waiting.get(f.id)?.();
    });
    await new Promise<void>((resolve, reject) => { this.ws.once('open', () => resolve()); this.ws.once('error', reject); });
  }

  async roundTrip(): Promise<number> {
    const id = ++this.id;
    const t0 = Date.now();
    const answered = new Promise<void>((resolve) => this.waiting.set(id, resolve));
    this.ws.send(JSON.stringify({ type: 'ping', id }));
    await Promise.race([answered, sleep(CEILING).then(() => { throw new Error(`canary: no pong within ${CEILING} ms (seed ${seed})`); })]);
    this.waiting.delete(id);
    return Date.now() - t0;
  }

  close(): void {
    this.ws.terminate();
  }
}

/** A raw TCP client that upgrades by hand, so it can send frames no WebSocket library would. */
async function rawWs(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('raw upgrade: no answer')), CEILING);
    s.once('connect', () => s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'));
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n\r\n')) {
        clearTimeout(timer);
        s.off('data', onData);
        if (!buf.startsWith('HTTP/1.1 101')) reject(new Error(`raw upgrade refused: ${buf.slice(0, 60)}`));
        else resolve();
      }
    };
    s.on('data', onData);
  });
  s.resume(); // keep reading what the server answers, so it is never stuck writing to us
  return s;
}

/** Sends frames on fresh raw connections (a new one whenever the server closed the last) and waits for the closes. */
async function sendRaw(port: number, frames: Buffer[], perConnection = frames.length): Promise<void> {
  for (let i = 0; i < frames.length; i += perConnection) {
    const s = await rawWs(port);
    // done when the server closed, or answered a last ping sent after the frames (then it read them all)
    const done = new Promise<void>((resolve) => {
      let seen = '';
      s.once('close', () => resolve());
      s.on('data', (d: Buffer) => {
        seen = (seen + d.toString('latin1')).slice(-64);
        if (seen.includes('"id":424242')) resolve();
      });
    });
    for (const f of frames.slice(i, i + perConnection)) if (!s.destroyed) s.write(f);
    if (!s.destroyed) s.write(text('{"type":"ping","id":424242}'));
    await Promise.race([done, sleep(CEILING)]);
    s.destroy();
  }
}

const text = (s: string): Buffer => encodeClientFrame(1, Buffer.from(s));

/** Plain HTTP bytes on a fresh socket; resolves when the server has closed (or the ceiling). */
function rawHttp(port: number, bytes: string | Buffer, trickle = false): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('error', () => {});
    s.on('data', (d) => (out += d.toString('latin1')));
    const timer = setTimeout(() => { s.destroy(); resolve(out); }, CEILING);
    s.on('close', () => { clearTimeout(timer); resolve(out); });
    s.on('connect', async () => {
      if (!trickle) {
        s.write(bytes);
        return;
      }
      for (const ch of String(bytes)) {
        if (s.destroyed) return;
        s.write(ch);
        await sleep(150);
      }
    });
  });
}

type Counter = (s: any) => number;
interface HostileClass { name: string; counted: Counter; run(port: number): Promise<void> }

const badFrames: Counter = (s) => s.messages.badFrames;
const CLASSES: HostileClass[] = [
  {
    name: 'malformed JSON', counted: badFrames,
    run: (port) => sendRaw(port, sample(fc.string({ unit: 'binary', maxLength: 200 }).filter((s) => { try { JSON.parse(s); return false; } catch { return true; } }), 60, 1).map(text), 15),
  },
  {
    name: 'deep nesting', counted: badFrames,
    run: (port) => sendRaw(port, sample(fc.tuple(fc.integer({ min: 33, max: 2500 }), fc.constantFrom('[', '{"a":')), 12, 2).map(([n, open]) =>
      text(`{"type":"publish","id":1,"channel":"c","data":${open.repeat(n)}0${(open === '[' ? ']' : '}').repeat(n)}}`)), 6),
  },
  {
    name: 'huge and odd ids', counted: badFrames,
    run: (port) => {
      const odd = fc.oneof(
        fc.constantFrom('1e308', '-1', '9007199254740993', '"1"', 'null', 'true', '{}', '[]', '-0.5', '1e400', '"' + 'd'.repeat(5000) + '"'),
        fc.integer({ min: -1e9, max: -1 }).map(String),
        fc.integer({ min: 0, max: 1e6 }).map((n) => `${n}.5`),
        fc.bigInt(2n ** 53n + 1n, 2n ** 90n).map(String),
      );
      return sendRaw(port, sample(odd, 40, 3).map((id) => text(`{"type":"ping","id":${id}}`)), 10);
    },
  },
  {
    // JSON.parse makes Infinity of these; published, they would reach subscribers as null
    name: 'numbers too large for a double in data', counted: badFrames,
    run: (port) => sendRaw(port, sample(fc.oneof(
      fc.integer({ min: 309, max: 99_999 }).map((e) => `1e${e}`),
      fc.integer({ min: 309, max: 2000 }).map((n) => '9'.repeat(n)),
      fc.integer({ min: 309, max: 999 }).map((e) => `[1, {"a": [-2.5E+${e}]}]`),
    ), 30, 8).map((d) => text(`{"type":"publish","channel":"c","data":${d}}`)), 15),
  },
  {
    // 4 connections × 100 publishes of 10 KB to distinct channels: past the 2 MB history budget
    // (least recently used channels evicted) and the 300-channel cap (FG_ERR_TOO_MANY_CHANNELS)
    name: 'publishes to ever new channels', counted: (s) => s.broker.historyEvictions + s.broker.channelsRefused,
    run: async (port) => {
      const pad = 'p'.repeat(10_000);
      await Promise.all(Array.from({ length: 4 }, (_, k) => sendRaw(port, Array.from({ length: 100 }, (_, i) => text(`{"type":"publish","id":${i},"channel":"new-${seed}-${k}-${i}","data":"${pad}"}`)))));
    },
  },
  {
    // 4 connections × 100 publishes, each with a new idempotencyKey and publisher, to a channel the
    // class above created: past the 100-entry cap (FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS)
    name: 'a new idempotencyKey on every publish', counted: (s) => s.broker.idempotencyRefused,
    run: async (port) => {
      await Promise.all(Array.from({ length: 4 }, (_, k) => sendRaw(port, Array.from({ length: 100 }, (_, i) =>
        text(`{"type":"publish","id":${i},"channel":"new-${seed}-0-0","data":${i},"idempotencyKey":"k-${k}-${i}","publisher":"p-${k}-${i}","seq":1}`)))));
    },
  },
  {
    name: 'bad channel names', counted: badFrames,
    run: (port) => sendRaw(port, sample(fc.oneof(fc.string({ maxLength: 300 }).filter((s) => !/^[A-Za-z0-9_\-:.@/]{1,128}$/.test(s)), fc.constant('x'.repeat(129))), 40, 4).map((c) =>
      text(JSON.stringify({ type: 'subscribe', id: 2, channel: c }))), 10),
  },
  {
    name: 'binary frames', counted: badFrames,
    run: (port) => sendRaw(port, sample(fc.uint8Array({ minLength: 1, maxLength: 300 }), 30, 5).map((b) => encodeClientFrame(2, Buffer.from(b))), 10),
  },
  {
    name: 'invalid UTF-8', counted: (s) => s.closed.invalid_utf8,
    run: (port) => sendRaw(port, [Buffer.from([0xc3, 0x28]), Buffer.from([0xff, 0xfe, 0xfd]), Buffer.from([0xed, 0xa0, 0x80])].map((b) => encodeClientFrame(1, b)), 1),
  },
  {
    name: 'fragmented and oversized frames', counted: (s) => s.closed.message_too_big + s.closed.protocol_error,
    run: async (port) => {
      const frag = (fin: boolean, op: number, s: string): Buffer => { const f = encodeClientFrame(op, Buffer.from(s)); if (!fin) f[0] &= 0x7f; return f; };
      // a valid fragmented ping (joined by ws), a continuation without a start, a message over maxPayload in pieces, one announced as 2^40 bytes
      await sendRaw(port, [frag(false, 1, '{"type":"pi'), frag(true, 0, 'ng","id":1}')]);
      await sendRaw(port, [frag(true, 0, 'orphan continuation')]);
      await sendRaw(port, [frag(false, 1, 'x'.repeat(10_000)), frag(false, 0, 'x'.repeat(10_000))]);
      const huge = Buffer.alloc(14);
      huge[0] = 0x81; huge[1] = 0x80 | 127; huge.writeBigUInt64BE(2n ** 40n, 2);
      await sendRaw(port, [huge]);
    },
  },
  {
    name: 'RSV bits', counted: (s) => s.closed.protocol_error,
    run: (port) => sendRaw(port, [0x40, 0x20, 0x10].map((bit) => { const f = text('{"type":"ping"}'); f[0] |= bit; return f; }), 1),
  },
  {
    name: 'control-frame abuse', counted: (s) => s.closed.protocol_error,
    run: async (port) => {
      const bigPing = encodeClientFrame(9, Buffer.alloc(126, 1)); // control frames carry at most 125 bytes
      const fragPing = encodeClientFrame(9, Buffer.from('x')); fragPing[0] &= 0x7f; // control frames cannot be fragmented
      const badClose = encodeClientFrame(8, Buffer.from([0x03, 0xe7])); // close code 999
      const unknownOp = encodeClientFrame(0xb, Buffer.alloc(0)); // reserved control opcode
      await sendRaw(port, [bigPing, fragPing, badClose, unknownOp], 1);
    },
  },
  {
    name: 'ping floods (WebSocket and protocol pings)', counted: (s) => s.closed.rate_limited,
    run: async (port) => {
      await sendRaw(port, Array.from({ length: 400 }, () => encodeClientFrame(9, Buffer.from('p'))));
      await sendRaw(port, Array.from({ length: 400 }, (_, i) => text(`{"type":"ping","id":${i}}`)));
    },
  },
  {
    name: 'subscribe storms', counted: (s) => s.closed.rate_limited,
    run: (port) => sendRaw(port, Array.from({ length: 400 }, (_, i) => text(`{"type":"subscribe","id":${i},"channel":"storm-${seed}-${i}"}`))),
  },
  {
    name: 'slowloris', counted: (s) => s.http.refused.timeout,
    run: async (port) => { await Promise.all(Array.from({ length: 20 }, () => rawHttp(port, 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n', true))); },
  },
  {
    name: 'header floods and long URLs', counted: (s) => s.http.refused.headers_too_large + s.http.refused.uri_too_long,
    run: async (port) => {
      const sizes = sample(fc.integer({ min: 20, max: 100 }), 10, 6);
      await Promise.all(sizes.map((kb, i) => rawHttp(port, i % 2 === 0
        ? `GET / HTTP/1.1\r\nHost: x\r\n${`X-F: ${'h'.repeat(1000)}\r\n`.repeat(kb)}\r\n`
        : `GET /${'u'.repeat(kb * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`)));
    },
  },
  {
    // RFC 6455 asks for HTTP/1.1; CONNECT asks a proxy; both were answered 101 / a bare close
    name: 'HTTP/1.0 upgrades and CONNECT', counted: (s) => s.http.refused.bad_request + s.http.refused.method_not_allowed,
    run: async (port) => {
      const up = 'GET / HTTP/1.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
      const answers = await Promise.all([
        rawHttp(port, up), rawHttp(port, up.replace('Host: x\r\n', '')),
        rawHttp(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'),
      ]);
      for (const a of answers) assert.match(a, /^HTTP\/1\.1 (400|405) [^]*"code":"FG_ERR_/, `answered ${JSON.stringify(a.slice(0, 80))} (seed ${seed})`);
    },
  },
  {
    name: 'HTTP garbage and bad upgrades', counted: (s) => s.http.refused.bad_request + s.http.refused.method_not_allowed + s.http.refused.no_host,
    run: async (port) => {
      const junk = sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), 10, 7).map((b) => Buffer.concat([Buffer.from(b), Buffer.from('\r\n\r\n')]));
      await Promise.all([
        ...junk.map((b) => rawHttp(port, b)),
        rawHttp(port, 'POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
        rawHttp(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n'),
        rawHttp(port, 'GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
      ]);
    },
  },
];

test('adversarial fuzz: every class of hostile input leaves the gateway alive, answering, bounded and counting', { timeout: 240_000 }, async (t) => {
  t.diagnostic(`fuzz seed ${seed} (replay: FG_FUZZ_SEED=${seed})`);
  console.log(`# hostile fuzz seed ${seed}`);
  const server = await startServer();
  const canary = new Canary();
  try {
    await canary.open(server.port);
    await canary.roundTrip();
    await sleep(200);
    const rssStart = readRss(server.child.pid!) ?? 0;
    for (const cls of CLASSES) {
      const before = cls.counted(await stats(server.port));
      await cls.run(server.port);
      assert.equal(server.child.exitCode, null, `${cls.name}: the gateway process died (seed ${seed})`);
      const rtt = await canary.roundTrip();
      assert.equal(canary.closed, undefined, `${cls.name}: the canary was disconnected`);
      const rss = readRss(server.child.pid!) ?? 0;
      assert.ok(rss - rssStart < 200 * MB, `${cls.name}: RSS grew by ${Math.round((rss - rssStart) / MB)} MB (seed ${seed})`);
      const s = await stats(server.port);
      assert.ok(cls.counted(s) > before, `${cls.name}: /stats did not count it (seed ${seed})`);
      assert.equal(s.messages.internalErrors, 0, `${cls.name}: an exception escaped into FG_ERR_INTERNAL (seed ${seed})`);
      t.diagnostic(`${cls.name}: counted ${cls.counted(s) - before}, canary round trip ${rtt} ms, RSS +${Math.round((rss - rssStart) / MB)} MB`);
    }
  } finally {
    canary.close();
    killGroup(server.child);
  }
});
