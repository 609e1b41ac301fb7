import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createGateway } from '../../src/server/gateway.js';
import { ErrorCodes } from '../../src/errors.js';

interface Answer { status: number; headers: string; body: any }

/** Writes raw bytes and reads the answer until the server closes (or a generous ceiling). */
function raw(port: number, text: string, keepOpen = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no close within 15 s; got ${JSON.stringify(out.slice(0, 200))}`)); }, 15_000);
    s.on('data', (d) => (out += d.toString('latin1')));
    const done = (): void => {
      clearTimeout(timer);
      const split = out.indexOf('\r\n\r\n');
      const head = split >= 0 ? out.slice(0, split) : out;
      const bodyText = split >= 0 ? out.slice(split + 4) : '';
      let body: any;
      try { body = JSON.parse(bodyText); } catch { body = bodyText; }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head.toLowerCase(), body });
    };
    s.on('close', done);
    s.on('error', () => {}); // a reset after the answer still ends in 'close'
    s.write(text);
    if (!keepOpen) setTimeout(() => s.end(), 50).unref();
  });
}

const upgrade = (extra: string, method = 'GET', host = 'Host: x\r\n'): string =>
  `${method} / HTTP/1.1\r\n${host}Connection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`;
const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

test('every HTTP refusal has a status and the JSON body {code, message}, and /stats counts it', { timeout: 120_000 }, async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', handshakeTimeout: 400 });
  try {
    const cases: [string, string, number, string, boolean?][] = [
      ['GET /', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 426, 'FG_ERR_UPGRADE_REQUIRED'],
      ['POST /stats', 'POST /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 405, 'FG_ERR_METHOD_NOT_ALLOWED'],
      ['GET /nope', 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n', 404, 'FG_ERR_NOT_FOUND'],
      ['GET without Host', 'GET /stats HTTP/1.1\r\n\r\n', 400, 'FG_ERR_BAD_REQUEST'],
      ['upgrade without Host', upgrade(`${KEY}Sec-WebSocket-Version: 13\r\n`, 'GET', ''), 400, 'FG_ERR_BAD_REQUEST'],
      ['upgrade with POST', upgrade(`${KEY}Sec-WebSocket-Version: 13\r\n`, 'POST'), 405, 'FG_ERR_METHOD_NOT_ALLOWED'],
      ['upgrade without key', upgrade('Sec-WebSocket-Version: 13\r\n'), 400, 'FG_ERR_BAD_REQUEST'],
      ['upgrade with version 99', upgrade(`${KEY}Sec-WebSocket-Version: 99\r\n`), 400, 'FG_ERR_BAD_REQUEST'],
      ['100 KB URL', `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, 'FG_ERR_URI_TOO_LONG'],
      ['100 KB of headers', `GET / HTTP/1.1\r\nHost: x\r\n${`X-A: ${'b'.repeat(1000)}\r\n`.repeat(100)}\r\n`, 431, 'FG_ERR_HEADERS_TOO_LARGE'],
      ['garbage', '\x00\x01 not http at all\r\n\r\n', 400, 'FG_ERR_BAD_REQUEST'],
      // RFC 6455 §4.1: an upgrade is HTTP/1.1 or later (before: answered 101, even without Host)
      ['HTTP/1.0 upgrade', upgrade(`${KEY}Sec-WebSocket-Version: 13\r\n`).replace('HTTP/1.1', 'HTTP/1.0'), 400, 'FG_ERR_BAD_REQUEST'],
      ['HTTP/1.0 upgrade without Host', upgrade(`${KEY}Sec-WebSocket-Version: 13\r\n`, 'GET', '').replace('HTTP/1.1', 'HTTP/1.0'), 400, 'FG_ERR_BAD_REQUEST'],
      // before: the socket was closed without a byte (Node's default for an unhandled CONNECT)
      ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'FG_ERR_METHOD_NOT_ALLOWED'],
      ['slowloris (half a request, then silence)', 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', 408, 'FG_ERR_HTTP_TIMEOUT', true],
    ];
    for (const [what, text, status, code, keepOpen] of cases) {
      const a = await raw(g.port, text, keepOpen);
      assert.equal(a.status, status, `${what}: ${a.headers.slice(0, 80)}`);
      assert.match(a.headers, /content-type: application\/json/, what);
      assert.equal(a.body.code, code, what);
      assert.ok(code in ErrorCodes);
      assert.equal(typeof a.body.message, 'string', what);
      if (what === 'upgrade with version 99') assert.match(a.headers, /sec-websocket-version: 13, 8/);
      if (what === 'upgrade with POST') assert.match(a.headers, /allow: get/);
    }
    const r = g.stats().http.refused;
    assert.deepEqual(
      [r.upgrade_required, r.method_not_allowed, r.not_found, r.no_host, r.bad_request, r.uri_too_long, r.headers_too_large, r.timeout],
      [1, 3, 1, 2, 5, 1, 1, 1],
    );
  } finally {
    await g.close(1000);
  }
});

test('a connection that pipelines more than 16 unanswered requests is closed: one 64 KB burst of them held ~3 MB of requests and responses per connection', { timeout: 120_000 }, async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  try {
    const burst = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2000);
    const text = await new Promise<string>((resolve, reject) => {
      const s = connect(g.port, '127.0.0.1');
      let out = '';
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`no close within 20 s; ${out.split('HTTP/1.1 200').length - 1} answers`)); }, 20_000);
      s.on('data', (d) => (out += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => { clearTimeout(timer); resolve(out); });
      s.write(burst);
    });
    const answers = text.split('HTTP/1.1 200').length - 1;
    // before: all 2,000 were answered on the one connection
    assert.ok(answers <= 16, `${answers} pipelined requests were answered`);
    assert.equal(g.stats().http.refused.bad_request, 1);
    // one request at a time on a kept-alive connection is untouched
    const one = await raw(g.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(one.status, 200);
  } finally {
    await g.close(1000);
  }
});
