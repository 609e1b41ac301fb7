import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SERVER_MESSAGE, parseFrames } from '../../src/loadgen/ws-frames.js';

test('a server frame announcing more than MAX_SERVER_MESSAGE ends the connection at once instead of buffering for it', () => {
  const head = Buffer.alloc(10);
  head[0] = 0x81;
  head[1] = 127;
  head.writeBigUInt64BE(2n ** 62n, 2);
  const { events, rest } = parseFrames(head, {});
  assert.equal(rest.length, 0);
  assert.equal(events.length, 1);
  assert.deepEqual([events[0].kind, (events[0] as { detail: string }).detail], ['error', 'message_too_big']);
  // fragments that add up past the bound are refused too
  const state = {};
  const frag = Buffer.alloc(10);
  frag[0] = 0x01; // text, not fin
  frag[1] = 127;
  frag.writeBigUInt64BE(BigInt(MAX_SERVER_MESSAGE), 2);
  assert.equal(parseFrames(frag, state).events.length, 0, 'waits for the announced bytes');
  const small = Buffer.from([0x01, 0x01, 0x41]);
  const small2 = Buffer.from([0x00, 127, 0, 0, 0, 0, 0x04, 0, 0, 0]);
  parseFrames(small, state);
  const r = parseFrames(small2, state);
  assert.equal((r.events[0] as { detail: string }).detail, 'message_too_big');
});
