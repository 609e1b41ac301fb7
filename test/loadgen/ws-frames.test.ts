import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SERVER_FRAGMENTS, MAX_SERVER_MESSAGE, parseFrames } from '../../src/loadgen/ws-frames.js';

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

test('a flood of empty continuation frames is bounded: past MAX_SERVER_FRAGMENTS the connection ends with message_too_big', () => {
  const state: { fragments?: Buffer[] } = {};
  parseFrames(Buffer.from([0x01, 0x00]), state); // an empty text start, not fin
  // 2 wire bytes each, no payload: the byte bound never trips, but each was kept as a Buffer
  const batch = Buffer.alloc(2 * 10_000);
  for (let i = 0; i < batch.length; i += 2) batch[i] = 0x00; // continuation, not fin, length 0
  let ended: { detail: string } | undefined;
  for (let n = 0; n < 20 && ended === undefined; n++) {
    const r = parseFrames(batch, state);
    ended = r.events.find((e) => e.kind === 'error') as { detail: string } | undefined;
    assert.ok((state.fragments?.length ?? 0) <= MAX_SERVER_FRAGMENTS);
  }
  assert.equal(ended?.detail, 'message_too_big');
  // a message in a few hundred fragments still reads
  const ok: { fragments?: Buffer[] } = {};
  const parts = [Buffer.from([0x01, 0x01, 0x7b])];
  for (let i = 0; i < 300; i++) parts.push(Buffer.from([0x00, 0x00]));
  parts.push(Buffer.from([0x80, 0x01, 0x7d]));
  assert.deepEqual(parseFrames(Buffer.concat(parts), ok).events, [{ kind: 'text', text: '{}' }]);
});

test('a large server frame trickled in small chunks is joined once, not re-copied per chunk (the bench stalled: 60 MB took minutes of CPU)', async () => {
  const { Connection } = await import('../../src/loadgen/connection.js');
  const texts: string[] = [];
  const failures: string[] = [];
  const c = new Connection({ kind: 'ws', host: '127.0.0.1', port: 1, path: '/' }, {
    onConnect() {}, onOpen() {}, onFail: (_c, f) => failures.push(f.detail), onText: (_c, t) => texts.push(t),
  }, 1000, 1000);
  c.state = 2; // open: what arrives now is read as frames
  const payload = Buffer.alloc(4 * 1024 * 1024, 0x61);
  const head = Buffer.alloc(10);
  head[0] = 0x81;
  head[1] = 127;
  head.writeBigUInt64BE(BigInt(payload.length), 2);
  const wire = Buffer.concat([head, payload, Buffer.from([0x81, 0x02, 0x7b, 0x7d])]);
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const out = concat(list, total);
    copied += out.length;
    return out;
  }) as typeof Buffer.concat;
  try {
    for (let i = 0; i < wire.length; i += 4096) c.data(wire.subarray(i, i + 4096));
  } finally {
    Buffer.concat = concat;
  }
  assert.deepEqual(failures, []);
  assert.equal(texts.length, 2);
  assert.equal(texts[0]!.length, payload.length);
  assert.equal(texts[1], '{}');
  // joining chunk by chunk copied ~1,000 × 2 MB on average here; once per frame is ~4 MB
  assert.ok(copied <= 3 * wire.length, `copied ${Math.round(copied / 1024 / 1024)} MB to read a ${Math.round(wire.length / 1024 / 1024)} MB frame`);
});

test('a ping flood is answered with one pong per read (the latest ping, as RFC 6455 §5.5.3 allows), not one write per ping', { timeout: 60_000 }, async () => {
  const { createServer, connect } = await import('node:net');
  const { Connection } = await import('../../src/loadgen/connection.js');
  let received = 0;
  const server = createServer((s) => s.on('data', (d) => (received += d.length)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const failures: string[] = [];
  const c = new Connection({ kind: 'ws', host: '127.0.0.1', port, path: '/' }, {
    onConnect() {}, onOpen() {}, onFail: (_c, f) => failures.push(f.detail), onText() {},
  }, 1000, 1000);
  c.state = 2;
  c.socket = sock;
  try {
    const pings = Buffer.concat(Array.from({ length: 10_000 }, (_, i) => Buffer.from([0x89, 0x01, i & 0xff])));
    c.data(pings);
    await new Promise<void>((r) => sock.end(() => r()));
    const deadline = Date.now() + 10_000;
    while (received < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(failures, []);
    // before: 10,000 pongs of 7 bytes (a socket write each) to a server that need not read them
    assert.equal(received, 7, `${received} bytes of pongs for one read of 10,000 pings`);
  } finally {
    sock.destroy();
    server.close();
  }
});
