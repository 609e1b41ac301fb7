import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCodes } from '../../src/errors.js';
import { decodeClientFrame, encodeJoinLeave, encodeMessage, encodeServerFrame } from '../../src/protocol/codec.js';
import { nestingDepth } from '../../src/protocol/depth.js';
import { readServerFrame } from '../../src/protocol/server-frame.js';
import type { ClientFrame, ServerFrame } from '../../src/protocol/frames.js';
import { parseFrames } from '../../src/loadgen/ws-frames.js';

// Property tests of the codec (fast-check). A failure prints its seed and the shrunk input; replay
// with FG_PROPERTY_SEED=<seed>. Every run prints the seed it used.
const seed = process.env.FG_PROPERTY_SEED ? Number(process.env.FG_PROPERTY_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
const runs = (n: number): fc.Parameters<unknown> => ({ seed, numRuns: n });

function assertDecoded(r: ReturnType<typeof decodeClientFrame>): void {
  if (r.ok) {
    assert.equal(typeof r.frame.type, 'string');
  } else {
    assert.ok(r.code in ErrorCodes, r.code);
    assert.equal(typeof r.message, 'string');
    assert.ok(r.id === undefined || (Number.isSafeInteger(r.id) && r.id >= 0));
  }
}

const channel = fc.stringMatching(/^[A-Za-z0-9_\-:.@/]{1,128}$/);
const id = fc.option(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { nil: undefined });
const data = fc.jsonValue({ maxDepth: 6 });
const withId = <T extends object>(f: T, i: number | undefined): T => (i === undefined ? f : { ...f, id: i });
const clientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.tuple(id, channel).map(([i, c]) => withId({ type: 'subscribe', channel: c }, i) as ClientFrame),
  fc.tuple(id, channel, fc.string({ minLength: 1, maxLength: 64 }), fc.nat()).map(
    ([i, c, epoch, offset]) => withId({ type: 'subscribe', channel: c, recover: { epoch, offset } }, i) as ClientFrame,
  ),
  fc.tuple(id, channel).map(([i, c]) => withId({ type: 'unsubscribe', channel: c }, i) as ClientFrame),
  fc.tuple(id, channel, data).map(([i, c, d]) => withId({ type: 'publish', channel: c, data: d }, i) as ClientFrame),
  id.map((i) => withId({ type: 'ping' }, i) as ClientFrame),
  fc.tuple(id, channel).map(([i, c]) => withId({ type: 'presence', channel: c }, i) as ClientFrame),
);

test(`decodeClientFrame never throws: any string, any bytes, any JSON`, (t) => {
  t.diagnostic(`fast-check seed ${seed}`);
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => assertDecoded(decodeClientFrame(s))), runs(2000));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => assertDecoded(decodeClientFrame(b))), runs(2000));
  fc.assert(fc.property(fc.json({ maxDepth: 8 }), (s) => assertDecoded(decodeClientFrame(s))), runs(1000));
  // objects that look like frames: right keys, any values
  const frameLike = fc.record(
    { type: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'ping', 'refresh', 'presence'), fc.jsonValue()), id: fc.jsonValue(), channel: fc.oneof(channel, fc.jsonValue()), data: fc.jsonValue(), recover: fc.jsonValue(), token: fc.jsonValue() },
    { requiredKeys: [] },
  );
  fc.assert(fc.property(frameLike, (o) => assertDecoded(decodeClientFrame(JSON.stringify(o)))), runs(2000));
});

test(`nesting: decoded iff the depth is within maxDepth, whatever the depth`, (t) => {
  t.diagnostic(`fast-check seed ${seed}`);
  const opener = fc.constantFrom('[', '{"k":');
  fc.assert(
    fc.property(fc.array(opener, { minLength: 0, maxLength: 3000 }), fc.integer({ min: 2, max: 256 }), (openers, maxDepth) => {
      const close = openers.map((o) => (o === '[' ? ']' : '}')).reverse().join('');
      const text = `{"type":"publish","id":1,"channel":"c","data":${openers.join('')}0${close}}`;
      const r = decodeClientFrame(text, maxDepth);
      assert.equal(nestingDepth(text), openers.length + 1);
      if (openers.length + 1 <= maxDepth) assert.ok(r.ok, text.slice(0, 80));
      else assert.ok(!r.ok && r.code === 'FG_ERR_BAD_FRAME' && r.id === 1 && r.message.includes(`maxDepth ${maxDepth}`));
    }),
    runs(500),
  );
});

test(`client frames round-trip through JSON and the decoder`, (t) => {
  t.diagnostic(`fast-check seed ${seed}`);
  fc.assert(
    fc.property(clientFrame, (frame) => {
      const r = decodeClientFrame(JSON.stringify(frame));
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.frame, JSON.parse(JSON.stringify(frame)));
    }),
    runs(2000),
  );
});

test(`server frames round-trip through encodeServerFrame/encodeMessage and readServerFrame`, (t) => {
  t.diagnostic(`fast-check seed ${seed}`);
  const epoch = fc.string({ minLength: 1, maxLength: 16 });
  const serverFrame: fc.Arbitrary<ServerFrame> = fc.oneof(
    fc.tuple(id, channel, epoch, fc.nat()).map(([i, c, e, o]) => withId({ type: 'subscribed', channel: c, epoch: e, offset: o }, i) as ServerFrame),
    fc.tuple(id, channel, epoch, fc.nat()).map(([i, c, e, o]) => withId({ type: 'published', channel: c, epoch: e, offset: o }, i) as ServerFrame),
    fc.tuple(id, fc.constantFrom(...Object.keys(ErrorCodes)), fc.string()).map(([i, code, message]) => withId({ type: 'error', code, message }, i) as ServerFrame),
    id.map((i) => withId({ type: 'pong' }, i) as ServerFrame),
    fc.tuple(id, channel, fc.array(fc.record({ sub: fc.string({ minLength: 1 }), connections: fc.nat() }).map((e) => ({ ...e })), { maxLength: 5 }), fc.nat(), fc.nat(), fc.nat(), fc.boolean()).map(
      ([i, c, subs, connections, users, anonymous, truncated]) => withId({ type: 'presence', channel: c, connections, users, anonymous, subs, truncated }, i) as ServerFrame,
    ),
    fc.tuple(fc.constantFrom('join' as const, 'leave' as const), channel, fc.string({ minLength: 1 }), fc.option(fc.string(), { nil: undefined })).map(
      ([type, c, client, sub]) => JSON.parse(encodeJoinLeave(type, c, client, sub)) as ServerFrame,
    ),
  );
  fc.assert(
    fc.property(serverFrame, (frame) => {
      const r = readServerFrame(encodeServerFrame(frame));
      assert.ok(r.ok);
      assert.deepEqual(r.frame, frame);
    }),
    runs(2000),
  );
  fc.assert(
    fc.property(channel, epoch, fc.nat(), data, (c, e, o, d) => {
      const r = readServerFrame(encodeMessage(c, e, o, d));
      assert.ok(r.ok);
      assert.deepEqual(r.frame, JSON.parse(JSON.stringify({ type: 'message', channel: c, epoch: e, offset: o, data: d })));
    }),
    runs(1000),
  );
});

test(`readServerFrame and the bench's frame parser never throw on any input`, (t) => {
  t.diagnostic(`fast-check seed ${seed}`);
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => void readServerFrame(s)), runs(2000));
  fc.assert(fc.property(fc.json({ maxDepth: 8 }), (s) => void readServerFrame(s)), runs(1000));
  // raw bytes cut into arbitrary chunks, fed the way the socket would feed them
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
      const state = {};
      let pending: Buffer = Buffer.alloc(0);
      for (const chunk of chunks) {
        const { events, rest } = parseFrames(Buffer.concat([pending, chunk]), state);
        pending = Buffer.from(rest);
        if (events.some((e) => e.kind === 'error' || e.kind === 'close')) return;
      }
    }),
    runs(3000),
  );
});

test(`presence, join and leave frames from a hostile server: read only when every field has its type, never a throw`, (t) => {
  t.diagnostic(`fast-check seed ${seed}`);
  const anything = fc.jsonValue({ maxDepth: 3 });
  const subEntry = fc.oneof(fc.record({ sub: fc.oneof(fc.string(), anything), connections: fc.oneof(fc.nat(), anything) }), anything);
  const hostile = fc.record(
    {
      type: fc.constantFrom('presence', 'join', 'leave'), id: fc.oneof(fc.nat(), anything), channel: fc.oneof(channel, anything),
      connections: fc.oneof(fc.nat(), anything), users: fc.oneof(fc.nat(), anything), anonymous: fc.oneof(fc.nat(), anything),
      subs: fc.oneof(fc.array(subEntry, { maxLength: 4 }), anything), truncated: fc.oneof(fc.boolean(), anything),
      client: fc.oneof(fc.string(), anything), sub: fc.oneof(fc.string(), anything),
    },
    { requiredKeys: ['type'] },
  );
  fc.assert(
    fc.property(hostile, (o) => {
      const r = readServerFrame(JSON.stringify(o));
      if (!r.ok) {
        assert.match(r.reason, new RegExp(`\`${o.type}\` frame whose`));
        return;
      }
      const f = r.frame as any;
      assert.equal(typeof f.channel, 'string');
      if (f.type === 'presence') {
        for (const k of ['connections', 'users', 'anonymous']) assert.ok(Number.isFinite(f[k]), k);
        assert.equal(typeof f.truncated, 'boolean');
        assert.ok(Array.isArray(f.subs) && f.subs.every((e: any) => typeof e.sub === 'string' && Number.isFinite(e.connections)));
      } else {
        assert.equal(typeof f.client, 'string');
        assert.ok(f.sub === undefined || typeof f.sub === 'string');
      }
    }),
    runs(3000),
  );
});
