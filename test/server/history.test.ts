import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heldBytes, HistoryRing } from '../../src/server/history.js';
import { MemoryBroker } from '../../src/broker/memory-broker.js';

const entry = (offset: number, size = 10, at = 1000) => ({ offset, frame: 'x'.repeat(size), size, at });

test('history is bounded by count, bytes and age, oldest first out', () => {
  const byCount = new HistoryRing({ maxCount: 40, maxBytes: 1e9, ttlMs: 0 });
  for (let i = 1; i <= 100; i++) byCount.push(entry(i));
  assert.equal(byCount.size, 40);
  assert.equal(byCount.oldestOffset(), 61);
  assert.deepEqual(byCount.since(97).map((e) => e.offset), [98, 99, 100]);

  const byBytes = new HistoryRing({ maxCount: 1000, maxBytes: 100, ttlMs: 0 });
  for (let i = 1; i <= 20; i++) byBytes.push(entry(i, 30));
  assert.equal(byBytes.size, 3);
  assert.equal(byBytes.bytes, 90, 'three 30-byte entries: a fourth would pass 100');
  assert.equal(byBytes.oldestOffset(), 18);

  const byAge = new HistoryRing({ maxCount: 1000, maxBytes: 1e9, ttlMs: 500 });
  byAge.push(entry(1, 10, 1000));
  byAge.push(entry(2, 10, 1400));
  assert.equal(byAge.oldestOffset(1600), 2);
  assert.equal(byAge.oldestOffset(2000), undefined);
});

test('memory broker: dense offsets, one epoch, recovery answers', async () => {
  const b = new MemoryBroker({ maxCount: 5, maxBytes: 1e6, ttlMs: 0 });
  await b.start();
  const seen: number[] = [];
  b.onPublication = (p) => seen.push(p.offset);
  b.watch('c');
  const positions = [];
  for (let i = 0; i < 8; i++) positions.push(await b.publish('c', { i }));
  assert.deepEqual(positions.map((p) => p.offset), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
  const epoch = positions[0].epoch;
  const ok = await b.recover('c', { epoch, offset: 5 });
  assert.ok(ok.ok);
  if (ok.ok) assert.deepEqual(ok.publications.map((p) => p.offset), [6, 7, 8]);
  assert.deepEqual(await b.recover('c', { epoch, offset: 2 }), { ok: false, epoch, offset: 8, reason: 'history_gone' });
  assert.equal((await b.recover('c', { epoch, offset: 3 })).ok, true);
  assert.deepEqual(await b.recover('c', { epoch, offset: 9 }), { ok: false, epoch, offset: 8, reason: 'offset_ahead' });
  assert.deepEqual(await b.recover('c', { epoch: 'zzz', offset: 1 }), { ok: false, epoch, offset: 8, reason: 'epoch_changed' });
  const frame = JSON.parse((await b.recover('c', { epoch, offset: 7 }) as any).publications[0].frame.toString());
  assert.deepEqual(frame, { type: 'message', channel: 'c', epoch, offset: 8, data: { i: 7 } });
  await b.close();
});

test('heldBytes: ASCII counts its UTF-8 size; other text at least two bytes a character (how V8 may store it)', () => {
  assert.equal(heldBytes('{"a":"abc"}'), 11);
  assert.equal(heldBytes('é'.repeat(10)), 20, 'Latin-1: UTF-8 2 bytes each');
  assert.equal(heldBytes(`${'a'.repeat(99)}€`), 200, 'one character past Latin-1 makes the whole string two bytes a character');
  assert.equal(heldBytes('漢'.repeat(10)), 30, 'UTF-8 3 bytes each is more than two');
});

test('memory broker: history kept as text replays the same bytes live subscribers got, non-ASCII included', async () => {
  const b = new MemoryBroker({ maxCount: 10, maxBytes: 1e6, ttlMs: 0 });
  await b.start();
  const live: Buffer[] = [];
  b.onPublication = (p) => live.push(p.frame);
  b.watch('c');
  const first = await b.publish('c', { text: 'héllo €uro 漢字 🎉' });
  await b.publish('c', 'plain');
  const r = await b.recover('c', { epoch: first.epoch, offset: 0 });
  assert.ok(r.ok);
  assert.equal(r.publications.length, 2);
  r.publications.forEach((p, i) => {
    assert.ok(Buffer.isBuffer(p.frame));
    assert.ok(p.frame.equals(live[i]), `publication ${i + 1}: replayed bytes differ from the live frame`);
  });
  assert.equal(JSON.parse(r.publications[0].frame.toString('utf8')).data.text, 'héllo €uro 漢字 🎉');
  assert.equal(b.stats().historyBytes, heldBytes(live[0].toString('utf8')) + live[1].length);
  await b.close();
});
