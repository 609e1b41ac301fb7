import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway, type Gateway } from '../../src/server/gateway.js';
import { createToken } from '../../src/auth/create-token.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { openPeer, type Peer } from '../helpers/ws-peer.js';
import { startRedis } from '../helpers/redis-server.js';
import { call } from '../helpers/http-call.js';
import { connect } from 'node:net';
import { MemoryBroker } from '../../src/broker/memory-broker.js';
import type { PublishAnswer, PublishOptions } from '../../src/broker/broker.js';
import type { Json } from '../../src/protocol/frames.js';

const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;
const KEY = 'k-test-123';

const api = (port: number, method: string, path: string, body?: object) => call(port, method, path, { body, headers: { 'x-api-key': KEY } });

test('admin listener: admin paths move off the public port, /healthz answers on both, the API needs its key', async () => {
  const g = await createGateway({ ...base, adminPort: 0, apiKey: KEY });
  try {
    const admin = g.admin.address!;
    assert.equal(admin.host, '127.0.0.1');
    assert.notEqual(admin.port, g.port);
    for (const path of ['/metrics', '/stats', '/stats/machine', '/dashboard', '/api/channels']) {
      const pub = await call(g.port, 'GET', path, { headers: { 'x-api-key': KEY } });
      assert.equal(pub.status, 404, path);
      assert.equal(pub.body.code, 'FG_ERR_ADMIN_ONLY', path);
    }
    assert.equal((await call(g.port, 'GET', '/healthz')).body.status, 'ok');
    assert.equal((await call(admin.port, 'GET', '/healthz')).body.status, 'ok');
    assert.equal((await call(admin.port, 'GET', '/stats')).body.node, g.node);
    assert.equal((await call(admin.port, 'GET', '/stats/machine')).body.scope, 'machine');
    assert.match((await call(admin.port, 'GET', '/metrics')).body, /^floodgate_connections 0$/m);
    // loopback admin host: the dashboard is on there by default
    assert.equal((await call(admin.port, 'GET', '/dashboard')).status, 200);

    const none = await call(admin.port, 'GET', '/api/channels');
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'FG_ERR_API_KEY');
    const wrong = await call(admin.port, 'GET', '/api/channels', { headers: { 'x-api-key': 'nope' } });
    assert.equal(wrong.body.code, 'FG_ERR_API_KEY');
    assert.deepEqual((await api(admin.port, 'GET', '/api/channels')).body, { channels: [] });
    assert.equal(g.startupReport().admin?.port, admin.port);
  } finally {
    await g.close(1000);
  }
});

test('without an admin port the admin paths stay on the public port; without a key the API is off', async () => {
  const g = await createGateway({ ...base });
  try {
    assert.equal(g.admin.address, undefined);
    assert.equal((await call(g.port, 'GET', '/stats')).status, 200);
    const off = await call(g.port, 'POST', '/api/publish', { body: { channel: 'a', data: 1 }, headers: { 'x-api-key': '' } });
    assert.equal(off.status, 404);
    assert.equal(off.body.code, 'FG_ERR_API_OFF');
  } finally {
    await g.close(1000);
  }
  await assert.rejects(createGateway({ ...base, port: 18123, adminPort: 18123 }), (e: Error & { code?: string }) => e.code === 'FG_ERR_INVALID_CONFIG' && /adminPort/.test(e.message));
  await assert.rejects(createGateway({ ...base, adminPort: 70000 }), (e: Error & { code?: string }) => e.code === 'FG_ERR_INVALID_CONFIG' && /adminPort.*0 to 65535/.test(e.message));
});

test('server API: publish, broadcast, channels, history and disconnect against live subscribers (memory broker)', async () => {
  const secret = 'sec';
  const g = await createGateway({ ...base, apiKey: KEY, adminPort: 0, authSecret: secret, historySize: 3 });
  const peers: Peer[] = [];
  try {
    const port = g.admin.address!.port;
    const token = (sub: string) => createToken(secret, { sub, exp: Math.floor(Date.now() / 1000) + 60 });
    const alice1 = await openPeer(`ws://127.0.0.1:${g.port}/?token=${token('alice')}`);
    const alice2 = await openPeer(`ws://127.0.0.1:${g.port}/?token=${token('alice')}`);
    const bob = await openPeer(`ws://127.0.0.1:${g.port}/?token=${token('bob')}`);
    peers.push(alice1, alice2, bob);
    alice1.send({ type: 'subscribe', id: 1, channel: 'prices:eur' });
    bob.send({ type: 'subscribe', id: 1, channel: 'prices:eur' });
    bob.send({ type: 'subscribe', id: 2, channel: 'news' });
    await alice1.next((f) => f.type === 'subscribed');
    await bob.next((f) => f.type === 'subscribed' && f.id === 2);

    const pub = await api(port, 'POST', '/api/publish', { channel: 'prices:eur', data: { bid: 1.08 }, idempotencyKey: 'order-1' });
    assert.equal(pub.status, 200);
    assert.equal(pub.body.offset, 1);
    assert.equal(typeof pub.body.epoch, 'string');
    for (const p of [alice1, bob]) {
      const m = await p.next((f) => f.type === 'message');
      assert.deepEqual(m, { type: 'message', channel: 'prices:eur', epoch: pub.body.epoch, offset: 1, data: { bid: 1.08 } });
    }

    // a retry with the same key publishes nothing new and answers the first position
    const retry = await api(port, 'POST', '/api/publish', { channel: 'prices:eur', data: { bid: 1.08 }, idempotencyKey: 'order-1' });
    assert.deepEqual(retry.body, { channel: 'prices:eur', epoch: pub.body.epoch, offset: 1, duplicate: true });
    const b = await api(port, 'POST', '/api/broadcast', { channels: ['prices:eur', 'news'], data: 'hello' });
    assert.equal(b.status, 200);
    assert.equal(b.body.published, 2);
    assert.deepEqual(b.body.results.map((r: { channel: string; offset: number }) => [r.channel, r.offset]), [['prices:eur', 2], ['news', 1]]);
    await bob.count((f) => f.type === 'message', 3);

    assert.deepEqual((await api(port, 'GET', '/api/channels')).body.channels, [
      { channel: 'news', subscribers: 1 },
      { channel: 'prices:eur', subscribers: 2 },
    ]);

    for (let i = 3; i <= 5; i++) await api(port, 'POST', '/api/publish', { channel: 'prices:eur', data: i });
    const h = await api(port, 'GET', `/api/history?channel=prices:eur&since=2`);
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { channel: 'prices:eur', epoch: pub.body.epoch, offset: 5, complete: true, publications: [{ offset: 3, data: 3 }, { offset: 4, data: 4 }, { offset: 5, data: 5 }] });
    // history keeps 3: asking from 0 says so instead of handing out a gap
    const gone = await api(port, 'GET', `/api/history?channel=prices:eur`);
    assert.equal(gone.body.complete, false);
    assert.equal(gone.body.reason, 'history_gone');
    const otherEpoch = await api(port, 'GET', `/api/history?channel=prices:eur&since=4&epoch=zzz`);
    assert.equal(otherEpoch.body.reason, 'epoch_changed');

    const d = await api(port, 'POST', '/api/disconnect', { sub: 'alice' });
    assert.deepEqual(d.body, { sub: 'alice', closed: 2 });
    assert.equal(await alice1.closed, CloseCode.DISCONNECTED);
    assert.equal(await alice2.closed, 4003);
    assert.equal(bob.closeCode, undefined);
    assert.deepEqual((await api(port, 'POST', '/api/disconnect', { sub: 'nobody' })).body, { sub: 'nobody', closed: 0 });
  } finally {
    for (const p of peers) p.close();
    await g.close(1000);
  }
});

test('server API errors: coded JSON for bad bodies, fields, methods, paths and oversized bodies', async () => {
  const g = await createGateway({ ...base, apiKey: KEY, apiBodyLimit: '2KB', historyBytes: '1KB' });
  try {
    const port = g.port;
    const bad = async (method: string, path: string, body: string | object | undefined, status: number, code: string, re?: RegExp) => {
      const r = await call(port, method, path, { body, headers: { 'x-api-key': KEY } });
      assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}`);
      assert.equal(r.body.code, code);
      if (re) assert.match(r.body.message, re);
      return r;
    };
    await bad('POST', '/api/publish', '{nope', 400, 'FG_ERR_API_BAD_REQUEST', /not valid JSON/);
    await bad('POST', '/api/publish', '[1]', 400, 'FG_ERR_API_BAD_REQUEST', /JSON object/);
    await bad('POST', '/api/publish', { data: 1 }, 400, 'FG_ERR_API_BAD_REQUEST', /`channel` must be a string/);
    await bad('POST', '/api/publish', { channel: 'bad channel', data: 1 }, 400, 'FG_ERR_BAD_CHANNEL');
    await bad('POST', '/api/publish', { channel: 'a' }, 400, 'FG_ERR_API_BAD_REQUEST', /`data` is missing/);
    await bad('POST', '/api/publish', { channel: 'a', data: 1, idempotencyKey: '' }, 400, 'FG_ERR_API_BAD_REQUEST', /idempotencyKey/);
    await bad('POST', '/api/broadcast', { channels: [], data: 1 }, 400, 'FG_ERR_API_BAD_REQUEST', /1 to 1000/);
    await bad('POST', '/api/broadcast', { channels: ['a', 'a'], data: 1 }, 400, 'FG_ERR_API_BAD_REQUEST', /twice/);
    await bad('POST', '/api/disconnect', { sub: 7 }, 400, 'FG_ERR_API_BAD_REQUEST', /`sub`/);
    await bad('GET', '/api/history?channel=a&since=-1', undefined, 400, 'FG_ERR_API_BAD_REQUEST', /`since`/);
    const m = await bad('GET', '/api/publish', undefined, 405, 'FG_ERR_API_METHOD');
    assert.equal(m.headers.allow, 'POST');
    await bad('GET', '/api/nothing', undefined, 404, 'FG_ERR_NOT_FOUND');
    const big = await bad('POST', '/api/publish', { channel: 'a', data: 'x'.repeat(3000) }, 413, 'FG_ERR_API_BODY_TOO_LARGE', /apiBodyLimit/);
    assert.equal(big.headers.connection, 'close');
    // fits the body limit, not the channel's history bound
    await bad('POST', '/api/publish', { channel: 'a', data: 'x'.repeat(1500) }, 413, 'FG_ERR_PUBLISH_TOO_LARGE', /historyBytes/);
    // the gateway still works afterwards
    assert.equal((await api(port, 'POST', '/api/publish', { channel: 'a', data: null })).body.offset, 1);
  } finally {
    await g.close(1000);
  }
});

test('server API with Redis: a publish on one node reaches subscribers on another, history comes from Redis', async (t) => {
  const redis = await startRedis();
  let a: Gateway | undefined;
  let b: Gateway | undefined;
  const peers: Peer[] = [];
  t.after(async () => {
    for (const p of peers) p.close();
    await a?.close(1000);
    await b?.close(1000);
    await redis.kill();
  });
  a = await createGateway({ ...base, broker: redis.url, apiKey: KEY, adminPort: 0, nodeId: 'a' });
  b = await createGateway({ ...base, broker: redis.url, nodeId: 'b' });
  const sub = await openPeer(`ws://127.0.0.1:${b.port}/`);
  peers.push(sub);
  sub.send({ type: 'subscribe', id: 1, channel: 'ticks' });
  await sub.next((f) => f.type === 'subscribed');
  const port = a.admin.address!.port;
  const offsets: number[] = [];
  for (let i = 1; i <= 3; i++) offsets.push((await api(port, 'POST', '/api/publish', { channel: 'ticks', data: { i } })).body.offset);
  assert.deepEqual(offsets, [1, 2, 3]);
  const got = await sub.count((f) => f.type === 'message', 3);
  assert.deepEqual(got.map((f) => f.data.i), [1, 2, 3]);
  const h = await api(port, 'GET', '/api/history?channel=ticks&since=1');
  assert.deepEqual(h.body.publications, [{ offset: 2, data: { i: 2 } }, { offset: 3, data: { i: 3 } }]);
  // channels are per node: node a has no subscribers, b's subscriber is not counted here
  assert.deepEqual((await api(port, 'GET', '/api/channels')).body.channels, []);
});

test('server API bodies held to the frame rules: nesting past maxDepth and numbers too large for a double are 400s, not a 500 or a silent null', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base, apiKey: KEY, maxDepth: 8 });
  try {
    const port = g.port;
    const send = (path: string, body: string) => call(port, 'POST', path, { body, headers: { 'x-api-key': KEY } });
    const sub = await openPeer(`ws://127.0.0.1:${port}`);
    sub.send({ type: 'subscribe', id: 1, channel: 'a' });
    await sub.next((f) => f.id === 1);
    // 100,000 levels, far under the 1 MB body limit: the recursion of JSON.stringify overflowed the stack (500 FG_ERR_INTERNAL)
    const deep = await send('/api/publish', `{"channel":"a","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    assert.deepEqual([deep.status, deep.body.code], [400, 'FG_ERR_API_BAD_REQUEST']);
    assert.match(deep.body.message, /maxDepth 8/);
    const deepCast = await send('/api/broadcast', `{"channels":["a"],"data":${'{"x":'.repeat(9)}1${'}'.repeat(9)}}`);
    assert.deepEqual([deepCast.status, deepCast.body.code], [400, 'FG_ERR_API_BAD_REQUEST']);
    // 1e400 parses to Infinity, which subscribers would get as null
    for (const [path, body] of [['/api/publish', '{"channel":"a","data":{"px":1e400}}'], ['/api/broadcast', `{"channels":["a"],"data":[-${'9'.repeat(400)}]}`]]) {
      const r = await send(path, body);
      assert.deepEqual([r.status, r.body.code], [400, 'FG_ERR_API_BAD_REQUEST'], body.slice(0, 60));
      assert.match(r.body.message, /too large for a double/);
    }
    // within the bounds they publish: depth 8 counts the body object, numbers near the double's limits
    const ok = await send('/api/publish', `{"channel":"a","data":${'['.repeat(7)}1.7976931348623157e308${']'.repeat(7)}}`);
    assert.deepEqual([ok.status, ok.body.offset], [200, 1]);
    const msg = await sub.next((f) => f.type === 'message');
    assert.equal(msg.offset, 1, 'the refused ones were never published');
    // `since` is a decimal integer: 0x10, 1e1 and " 2" are refused like -1
    for (const since of ['0x10', '1e1', '%202', '+1']) {
      const r = await call(port, 'GET', `/api/history?channel=a&since=${since}`, { headers: { 'x-api-key': KEY } });
      assert.deepEqual([r.status, r.body.code], [400, 'FG_ERR_API_BAD_REQUEST'], since);
    }
    assert.equal((await call(port, 'GET', '/api/history?channel=a&since=0', { headers: { 'x-api-key': KEY } })).body.publications.length, 1);
    assert.equal(g.stats().messages.internalErrors, 0);
    sub.close();
  } finally {
    await g.close(1000);
  }
});

test('server API: an idempotencyKey with a lone surrogate is a 400 (in Redis two such keys would be one)', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base, apiKey: KEY });
  try {
    const r = await call(g.port, 'POST', '/api/publish', { body: JSON.stringify({ channel: 'a', data: 1, idempotencyKey: '\ud800' }), headers: { 'x-api-key': KEY } });
    assert.deepEqual([r.status, r.body.code], [400, 'FG_ERR_API_BAD_REQUEST']);
    assert.match(r.body.message, /idempotencyKey.*lone surrogate/);
    assert.equal((await api(g.port, 'POST', '/api/publish', { channel: 'a', data: 1, idempotencyKey: 'k😀' })).status, 200);
  } finally {
    await g.close(1000);
  }
});

/** Writes raw bytes to a port and reads until the server closes (or 60 s pass). */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const stop = setTimeout(() => s.destroy(), 60_000);
    s.on('data', (d) => (out += d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(stop);
      resolve(out);
    });
    s.write(text);
  });
}

test('the admin listener answers malformed HTTP like the public port: a status and the JSON {code, message}, not a silent close', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base, adminPort: 0, apiKey: KEY });
  try {
    const admin = g.admin.address!.port;
    const cases = [
      '\x00\x01 garbage\r\n\r\n',
      'GET stats HTTP/1.1\r\nHost: x\r\n\r\n',
      `POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
    ];
    for (const text of cases) {
      const answer = await rawHttp(admin, text);
      assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(text));
      assert.deepEqual(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).code, 'FG_ERR_BAD_REQUEST');
    }
    const long = await rawHttp(admin, `GET /${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    // 414 or 431 by where the parser's buffer ended (docs/protocol.md); either way the JSON body
    assert.match(long, /^HTTP\/1\.1 (414 [^]*"code":"FG_ERR_URI_TOO_LONG"|431 [^]*"code":"FG_ERR_HEADERS_TOO_LARGE")/);
    assert.equal((await call(admin, 'GET', '/healthz')).body.status, 'ok');
  } finally {
    await g.close(1000);
  }
});

test('any user a token lets in can be disconnected: a sub of 1,000 characters, connected with `authorization: bearer` in lower case', { timeout: 120_000 }, async () => {
  const secret = 's3cret';
  const g = await createGateway({ ...base, apiKey: KEY, authSecret: secret, dashboardToken: 'dash-tok' });
  try {
    const sub = 'u'.repeat(1000);
    const token = createToken(secret, { exp: Math.floor(Date.now() / 1000) + 3600, sub });
    // the auth scheme is case-insensitive (RFC 9110 §11.1)
    const p = await openPeer(`ws://127.0.0.1:${g.port}/`, { headers: { authorization: `bearer ${token}` } });
    assert.equal(p.frames[0].type, 'welcome');
    const r = await api(g.port, 'POST', '/api/disconnect', { sub });
    assert.deepEqual([r.status, r.body.closed], [200, 1], JSON.stringify(r.body).slice(0, 200));
    assert.equal(await p.closed, CloseCode.DISCONNECTED);
    assert.equal((await call(g.port, 'GET', '/stats', { headers: { authorization: 'BEARER dash-tok' } })).status, 200);
  } finally {
    await g.close(1000);
  }
});

/** The memory broker, counting the bytes of `data` in publishes not yet answered (each answer waits a turn of the loop). */
class CountingBroker extends MemoryBroker {
  inFlight = 0;
  peak = 0;
  override async publish(channel: string, data: Json, options?: PublishOptions): Promise<PublishAnswer> {
    const bytes = JSON.stringify(data).length;
    this.inFlight += bytes;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      await new Promise((r) => setImmediate(r));
      return await super.publish(channel, data, options);
    } finally {
      this.inFlight -= bytes;
    }
  }
}

test('POST /api/broadcast of a large body to many channels keeps at most 16 MiB of publications in flight, not channels × body (1 GB for 1000 × 1 MB)', { timeout: 120_000 }, async () => {
  const broker = new CountingBroker({ maxCount: 10, maxBytes: 1 << 20, ttlMs: 0 });
  const g = await createGateway({ ...base, apiKey: KEY }, { broker });
  try {
    const data = 'x'.repeat(900 * 1024);
    const channels = Array.from({ length: 200 }, (_, i) => `b${i}`);
    const r = await call(g.port, 'POST', '/api/broadcast', { body: { channels, data }, headers: { 'x-api-key': KEY } });
    assert.deepEqual([r.status, r.body.published, r.body.failed], [200, 200, 0]);
    assert.deepEqual(r.body.results.map((x: { channel: string }) => x.channel), channels, 'results keep the order of `channels`');
    assert.ok(broker.peak <= 16 * 1024 * 1024 + data.length + 2, `peak in flight ${broker.peak} B`);
    // small bodies still go out all at once
    const small = await call(g.port, 'POST', '/api/broadcast', { body: { channels, data: 1 }, headers: { 'x-api-key': KEY } });
    assert.equal(small.body.published, 200);
  } finally {
    await g.close(1000);
  }
});

test('server API: the broker caps answer 503 with their code, nothing published (maxIdempotencyKeys, maxChannels)', async () => {
  const g = await createGateway({ ...base, apiKey: KEY, maxIdempotencyKeys: 1, maxChannels: 2 });
  try {
    assert.equal((await api(g.port, 'POST', '/api/publish', { channel: 'a', data: 1, idempotencyKey: 'k1' })).status, 200);
    const full = await api(g.port, 'POST', '/api/publish', { channel: 'a', data: 2, idempotencyKey: 'k2' });
    assert.deepEqual([full.status, full.body.code], [503, 'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS']);
    const again = await api(g.port, 'POST', '/api/publish', { channel: 'a', data: 1, idempotencyKey: 'k1' });
    assert.deepEqual([again.status, again.body.offset, again.body.duplicate], [200, 1, true], 'a retry of the held key is answered');
    assert.equal((await api(g.port, 'POST', '/api/publish', { channel: 'b', data: 1 })).status, 200);
    const many = await api(g.port, 'POST', '/api/publish', { channel: 'c', data: 1 });
    assert.deepEqual([many.status, many.body.code], [503, 'FG_ERR_TOO_MANY_CHANNELS']);
  } finally {
    await g.close(1000);
  }
});
