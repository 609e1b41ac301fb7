import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { parseUpgrade } from '../../src/server/upgrade-request.js';
import { acceptKey, upgradeResponse } from '../../src/server/fast-upgrade.js';
import { buildTextFrame } from '../../src/server/frame-writer.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const canonical = (extra = '', path = '/'): string =>
  `GET ${path} HTTP/1.1\r\nHost: x:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
const parse = (text: string) => parseUpgrade(Buffer.from(text, 'latin1'));

test('a canonical upgrade is read with its URL, fields and the bytes after the head', () => {
  const r = parseUpgrade(Buffer.concat([Buffer.from(canonical('Origin: https://a.example\r\nAuthorization: Bearer t\r\nX-Other: 1\r\n', '/ws?token=abc')), Buffer.from([0x81, 0x80])]));
  assert.equal(r.kind, 'upgrade');
  if (r.kind !== 'upgrade') return;
  assert.equal(r.req.url, '/ws?token=abc');
  assert.equal(r.req.headers.host, 'x:1');
  assert.equal(r.req.headers.origin, 'https://a.example');
  assert.equal(r.req.headers.authorization, 'Bearer t');
  assert.equal(r.key, KEY);
  assert.deepEqual([...r.head], [0x81, 0x80]);
  // case and optional whitespace as RFC 9110 allows
  assert.equal(parse(canonical().replace('Upgrade: websocket', 'UPGRADE:   WebSocket  ').replace('Connection: Upgrade', 'connection: keep-alive, Upgrade')).kind, 'upgrade');
});

test('a head split over segments is incomplete until its blank line', () => {
  const text = canonical();
  for (const cut of [1, 4, 20, text.length - 2, text.length - 1]) assert.equal(parse(text.slice(0, cut)).kind, 'incomplete', `cut at ${cut}`);
  assert.equal(parse('POST / HTTP/1.1\r\n').kind, 'fallback'); // decided on the first bytes
  assert.equal(parse(`GET /${'a'.repeat(9000)}`).kind, 'fallback'); // past the fast path's bound: the HTTP server's limits apply
});

test('anything but a plain, well-formed upgrade goes to the HTTP server', () => {
  const cases: [string, string][] = [
    ['HTTP/1.0', canonical().replace('HTTP/1.1', 'HTTP/1.0')],
    ['no Host', canonical().replace('Host: x:1\r\n', '')],
    ['two Host fields', canonical('Host: y\r\n')],
    ['two keys', canonical(`Sec-WebSocket-Key: ${KEY}\r\n`)],
    ['bad key', canonical().replace(KEY, 'short==')],
    ['version 8', canonical().replace('Version: 13', 'Version: 8')],
    ['no Connection: upgrade', canonical().replace('Connection: Upgrade', 'Connection: keep-alive')],
    ['Upgrade: h2c', canonical().replace('Upgrade: websocket', 'Upgrade: h2c')],
    ['a body', canonical('Content-Length: 3\r\n')],
    ['chunked', canonical('Transfer-Encoding: chunked\r\n')],
    ['subprotocol offer', canonical('Sec-WebSocket-Protocol: chat\r\n')],
    ['obs-fold', canonical('X-A: 1\r\n  continued\r\n')],
    ['space before colon', canonical('X-A : 1\r\n')],
    ['byte over 0x7E in a value', canonical('X-A: caf\xe9\r\n')],
    ['NUL in a value', canonical('X-A: a\x00b\r\n')],
    ['bare LF', canonical().replace('Host: x:1\r\n', 'Host: x:1\n')],
    ['fragment in the URL', canonical('', '/a#b')],
    ['absolute URL', canonical('', 'http://x/').replace('GET http', 'GET http')],
    ['space in the URL', canonical('', '/a b')],
    ['lower-case method', canonical().replace('GET', 'get')],
  ];
  for (const [what, text] of cases) assert.equal(parse(text).kind, 'fallback', what);
});

test('an extension offer is ignored without compression (as ws does) and left to ws with it', () => {
  const offer = canonical('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n');
  assert.equal(parse(offer).kind, 'upgrade');
  assert.equal(parseUpgrade(Buffer.from(offer), true).kind, 'fallback');
  assert.equal(parseUpgrade(Buffer.from(canonical()), true).kind, 'upgrade');
});

test('the 101 answer carries the RFC 6455 accept value and the first frame as ws would frame it', () => {
  assert.equal(acceptKey(KEY), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='); // RFC 6455 §1.3's example
  for (const payload of ['{"type":"welcome"}', 'x'.repeat(200), 'y'.repeat(70_000), '{"node":"hôte"}']) {
    const out = upgradeResponse(acceptKey(KEY), payload);
    const bytes = typeof out === 'string' ? Buffer.from(out, 'latin1') : out;
    const split = bytes.indexOf('\r\n\r\n') + 4;
    assert.match(bytes.subarray(0, split).toString('latin1'), /^HTTP\/1\.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n\r\n$/);
    assert.deepEqual(bytes.subarray(split), buildTextFrame(Buffer.from(payload)));
  }
});

/** Sends the bytes to Node's own HTTP server and returns what it made of them (recorded under `id`). */
async function nodeSees(port: number, bytes: Buffer, seen: Map<string, IncomingMessage | 'error'>, id: string): Promise<IncomingMessage | 'error' | undefined> {
  await new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.write(bytes);
    setTimeout(() => s.destroy(), 2000).unref(); // the server closes first once it has decided
  });
  return seen.get(id);
}

test('property: whatever the fast path takes, Node\'s HTTP parser takes as the same upgrade', { timeout: 120_000 }, async () => {
  const seen = new Map<string, IncomingMessage | 'error'>();
  let last = '';
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket) => {
    seen.set(last, req);
    socket.destroy();
  });
  server.on('request', (_req, res) => res.destroy());
  server.on('clientError', (_err, socket) => {
    seen.set(last, 'error');
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  // mostly-canonical heads with one or two hostile twists each
  const field = fc.oneof(
    fc.constantFrom('Host: a', 'Origin: o', 'X-A: 1', 'Upgrade: websocket', 'Connection: upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13'),
    fc.tuple(fc.stringMatching(/^[!-~]{1,8}$/), fc.string({ unit: 'binary-ascii', maxLength: 12 })).map(([n, v]) => `${n}:${v}`),
  );
  const head = fc.record({
    path: fc.oneof(fc.constant('/'), fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 10 }).map((p) => `/${p}`)),
    extra: fc.array(field, { maxLength: 4 }),
    drop: fc.integer({ min: -6, max: 5 }), // most keep every required field
    sep: fc.constantFrom('\r\n', '\r\n', '\r\n', '\n'),
  }).map(({ path, extra, drop, sep }) => {
    const base = ['Host: x', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13'];
    if (drop >= 0 && drop < base.length) base.splice(drop, 1);
    return `GET ${path} HTTP/1.1${sep}${[...base, ...extra].join('\r\n')}\r\n\r\n`;
  });
  let accepted = 0;
  try {
    for (const [n, text] of fc.sample(head, { numRuns: 400, seed: 15 }).entries()) {
      const bytes = Buffer.from(text, 'latin1');
      const fast = parseUpgrade(bytes);
      if (fast.kind !== 'upgrade') continue;
      accepted++;
      last = String(n);
      const node = await nodeSees(port, bytes, seen, last);
      assert.ok(node !== undefined && node !== 'error', `Node did not see an upgrade in ${JSON.stringify(text)}`);
      const req = node as IncomingMessage;
      assert.equal(req.method, 'GET');
      assert.equal(req.url, fast.req.url, JSON.stringify(text));
      assert.equal(req.headers.host, fast.req.headers.host, JSON.stringify(text));
      assert.equal(req.headers['sec-websocket-key'], fast.key, JSON.stringify(text));
      assert.equal(req.headers['sec-websocket-version'], '13');
      assert.equal(req.headers.origin, fast.req.headers.origin, JSON.stringify(text));
    }
  } finally {
    server.close();
  }
  assert.ok(accepted >= 10, `only ${accepted} generated heads were plain upgrades: the generator no longer exercises the fast path`);
});
