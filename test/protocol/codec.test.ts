import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeClientFrame } from '../../src/protocol/codec.js';

test('decodes every client frame of docs/protocol.md', () => {
  for (const f of [
    { type: 'subscribe', id: 1, channel: 'prices' },
    { type: 'subscribe', id: 2, channel: 'prices', recover: { epoch: 'k3J9xQ2a', offset: 41 } },
    { type: 'unsubscribe', id: 3, channel: 'prices' },
    { type: 'publish', id: 4, channel: 'prices', data: { sym: 'ABC', px: 10.5 } },
    { type: 'publish', channel: 'a:b/c.d@e-f_g', data: null },
    { type: 'ping', id: 5 },
    { type: 'presence', id: 6, channel: 'chat:room-1' },
    { type: 'presence', channel: 'lobby' },
  ]) {
    const r = decodeClientFrame(JSON.stringify(f));
    assert.ok(r.ok, JSON.stringify(r));
    if (r.ok) assert.deepEqual(r.frame, f);
  }
});

test('rejects bad frames with a code and keeps the id', () => {
  const cases: [string, string][] = [
    ['{', 'FG_ERR_BAD_FRAME'],
    ['"str"', 'FG_ERR_BAD_FRAME'],
    ['{"id":3}', 'FG_ERR_UNKNOWN_TYPE'],
    ['{"type":"subscribe","id":4,"channel":""}', 'FG_ERR_BAD_CHANNEL'],
    ['{"type":"subscribe","id":5,"channel":"' + 'x'.repeat(129) + '"}', 'FG_ERR_BAD_CHANNEL'],
    ['{"type":"subscribe","id":6,"channel":"a","recover":{"epoch":"e","offset":-1}}', 'FG_ERR_BAD_FRAME'],
    ['{"type":"publish","id":7,"channel":"a"}', 'FG_ERR_BAD_FRAME'],
    ['{"type":"ping","id":-1}', 'FG_ERR_BAD_FRAME'],
    ['{"type":"presence","id":8}', 'FG_ERR_BAD_FRAME'],
    ['{"type":"presence","id":9,"channel":7}', 'FG_ERR_BAD_CHANNEL'],
    ['{"type":"presence","id":10,"channel":"a b"}', 'FG_ERR_BAD_CHANNEL'],
  ];
  for (const [text, code] of cases) {
    const r = decodeClientFrame(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) {
      assert.equal(r.code, code, text);
      const id = (/"id":(-?\d+)/.exec(text) ?? [])[1];
      if (id !== undefined && Number(id) >= 0) assert.equal(r.id, Number(id), `${text} keeps its id`);
    }
  }
  const r = decodeClientFrame('{"type":"nope","id":42}');
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual([r.code, r.id], ['FG_ERR_UNKNOWN_TYPE', 42]);
});

test('nesting deeper than maxDepth is FG_ERR_BAD_FRAME naming the limit, with the id kept', () => {
  const deep = (n: number): string => `{"type":"publish","id":9,"channel":"c","data":${'['.repeat(n)}${']'.repeat(n)}}`;
  const ok = decodeClientFrame(deep(31), 32); // 31 arrays inside the frame object = 32 levels
  assert.ok(ok.ok, JSON.stringify(ok));
  const bad = decodeClientFrame(deep(32), 32);
  assert.deepEqual(bad, {
    ok: false, code: 'FG_ERR_BAD_FRAME', id: 9,
    message: 'frame nests deeper than maxDepth 32 levels of arrays/objects (the frame itself is level 1)',
  });
  const huge = decodeClientFrame(deep(8000)); // the crash of issue 10: a recursive check overflowed the stack
  assert.ok(!huge.ok && huge.code === 'FG_ERR_BAD_FRAME' && /maxDepth 32/.test(huge.message));
  const objects = decodeClientFrame(`{"type":"publish","channel":"c","data":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`);
  assert.ok(!objects.ok && /maxDepth/.test(objects.message));
});

test('bytes are decoded as UTF-8; invalid UTF-8 is a coded error', () => {
  const r = decodeClientFrame(Buffer.from('{"type":"ping","id":1}'));
  assert.deepEqual(r, { ok: true, frame: { type: 'ping', id: 1 } });
  const bad = decodeClientFrame(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]));
  assert.deepEqual(bad, { ok: false, code: 'FG_ERR_BAD_FRAME', message: 'frame is not valid UTF-8' });
});

test('an unknown type is echoed briefly, never kilobytes of it', () => {
  const r = decodeClientFrame(JSON.stringify({ type: 'x'.repeat(10_000), id: 1 }));
  assert.ok(!r.ok && r.code === 'FG_ERR_UNKNOWN_TYPE' && r.message.length < 200, JSON.stringify(r).slice(0, 300));
});

test('a number too large for a double in data is refused, not published as null', () => {
  for (const lit of ['1e400', '-1E+999', '1' + '0'.repeat(400), '[1, {"a": 2e308}]']) {
    const r = decodeClientFrame(`{"type":"publish","id":7,"channel":"c","data":${lit}}`);
    assert.ok(!r.ok, lit.slice(0, 20));
    assert.equal(r.code, 'FG_ERR_BAD_FRAME');
    assert.equal(r.id, 7);
    assert.match(r.message, /^data: a number is too large for a double/);
  }
  // what looks like one but is not: large finite numbers, digits inside strings
  for (const lit of ['1e300', '1.5e-400', '"1e400"', '{"k": "9".repeat}', '[1e308]']) {
    const text = `{"type":"publish","id":7,"channel":"c","data":${lit === '{"k": "9".repeat}' ? JSON.stringify({ k: '9'.repeat(500) }) : lit}}`;
    assert.ok(decodeClientFrame(text).ok, lit);
  }
});

test('idempotencyKey and publisher with a lone surrogate are refused: Redis stores UTF-8, where every lone surrogate becomes U+FFFD and two keys would collide', () => {
  const publish = (extra: object) => decodeClientFrame(JSON.stringify({ type: 'publish', id: 9, channel: 'c', data: 1, ...extra }));
  for (const extra of [{ idempotencyKey: '\ud800' }, { idempotencyKey: 'k\udfff' }, { idempotencyKey: '\udc00\ud800' }, { publisher: 'p\ud800', seq: 1 }]) {
    const r = publish(extra);
    assert.equal(r.ok, false, JSON.stringify(extra));
    assert.deepEqual([r.ok === false && r.code, r.ok === false && r.id], ['FG_ERR_BAD_FRAME', 9]);
    assert.match(r.ok === false ? r.message : '', /(idempotencyKey|publisher): .*lone surrogate/);
  }
  // a well-formed pair (an emoji) is text like any other; so is a lone surrogate in data
  assert.equal(publish({ idempotencyKey: 'k😀', publisher: '😀', seq: 1 }).ok, true);
  assert.equal(publish({ data: '\ud800' }).ok, true);
});

test('hasLoneSurrogate agrees with String.prototype.isWellFormed on every 1- and 2-unit mix of surrogates and text', async () => {
  const { hasLoneSurrogate } = await import('../../src/protocol/frames.js');
  const units = ['a', '\ud800', '\udbff', '\udc00', '\udfff', '😀'];
  for (const a of units) for (const b of units) for (const c of ['', ...units]) {
    const s = a + b + c;
    assert.equal(hasLoneSurrogate(s), !(s as unknown as { isWellFormed(): boolean }).isWellFormed(), JSON.stringify(s));
  }
});
