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
