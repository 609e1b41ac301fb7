// Channel namespaces end to end, with the example config of docs/configuration.md as written:
// real WebSocket clients and real HTTP calls to the server API, on the memory broker, the Redis
// broker (a real redis-server) and the shared broker of `serve --workers 2` (IPC).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway } from '../../src/server/gateway.js';
import { createToken, type TokenClaims } from '../../src/auth/create-token.js';
import { formatStartupReport } from '../../src/admin/startup-report.js';
import { openPeer, type Peer } from '../helpers/ws-peer.js';
import { startRedis } from '../helpers/redis-server.js';
import { startGateway } from '../helpers/scale-gateway.js';
import { call } from '../helpers/http-call.js';
import { Client } from '../../src/client/index.js';
import { FloodgateError } from '../../src/errors.js';

const SECRET = 'namespaces-test-secret';
const KEY = 'namespaces-test-key';
const env = { FLOODGATE_AUTH_SECRET: SECRET, FLOODGATE_API_KEY: KEY };

/** The YAML block of docs/configuration.md between the namespaces-example markers. */
function docsExample(): string {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const block = /<!-- namespaces-example:begin -->\n```yaml\n([\s\S]*?)```\n<!-- namespaces-example:end -->/.exec(doc);
  assert.ok(block, 'docs/configuration.md has the namespaces example between its markers');
  return block[1]!;
}

function withConfig<T>(fn: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-ns-gw-'));
  const file = join(dir, 'floodgate.yaml');
  writeFileSync(file, docsExample());
  return fn(file).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const token = (claims: Record<string, unknown>): string =>
  createToken(SECRET, { exp: Math.floor(Date.now() / 1000) + 300, ...claims } as TokenClaims);

const api = (port: number, method: string, path: string, body?: object) => call(port, method, path, { body, headers: { 'x-api-key': KEY } });

/** What the example promises, checked against a running gateway (any broker). */
async function checkExample(port: number): Promise<void> {
  const peers: Peer[] = [];
  const open = async (claims: Record<string, unknown>): Promise<Peer> => {
    const p = await openPeer(`ws://127.0.0.1:${port}/?token=${token(claims)}`);
    peers.push(p);
    return p;
  };
  try {
    const reader = await open({ sub: 'reader' });
    const channels = ['prices:eur', 'chat:lobby', 'typing:1', 'news'];
    channels.forEach((channel, i) => reader.send({ type: 'subscribe', id: 10 + i, channel }));
    for (let i = 0; i < channels.length; i++) await reader.next((f) => f.type === 'subscribed' && f.id === 10 + i);

    // prices: is server-publish only: the client is refused with a code, the API publishes
    reader.send({ type: 'publish', id: 1, channel: 'prices:eur', data: { bid: 1 } });
    const refused = await reader.next((f) => f.id === 1);
    assert.deepEqual([refused.type, refused.code, refused.channel], ['error', 'FG_ERR_PUBLISH_FORBIDDEN', 'prices:eur']);
    assert.match(refused.message, /namespace prices:, where only the server publishes \(POST \/api\/publish\)/);
    reader.send({ type: 'publish', id: 2, channel: 'chat:lobby', data: 'hi' });
    assert.deepEqual([(await reader.next((f) => f.id === 2)).type], ['published'], 'clients publish in chat:');
    const viaApi = await api(port, 'POST', '/api/publish', { channel: 'prices:eur', data: { bid: 1.08 } });
    assert.deepEqual([viaApi.status, viaApi.body.offset], [200, 1], JSON.stringify(viaApi.body));

    // 14 more on prices:eur, typing:1 and news at once: 15, 14, 14 publications
    for (let n = 2; n <= 15; n++) {
      const r = await api(port, 'POST', '/api/broadcast', { channels: ['prices:eur', 'typing:1', 'news'], data: { n } });
      assert.equal(r.body.published, 3, JSON.stringify(r.body));
    }
    const prices = await reader.count((f) => f.type === 'message' && f.channel === 'prices:eur', 15);
    assert.deepEqual(prices.map((m) => m.offset), Array.from({ length: 15 }, (_, i) => i + 1));
    const typing = await reader.count((f) => f.type === 'message' && f.channel === 'typing:1', 14);
    const epochOf = (channel: string) => reader.frames.find((f) => f.type === 'message' && f.channel === channel).epoch;

    // prices: keeps 10: recovery from offset 5 replays 6…15, from 4 cannot
    const late = await open({ sub: 'late' });
    late.send({ type: 'subscribe', id: 1, channel: 'prices:eur', recover: { epoch: epochOf('prices:eur'), offset: 5 } });
    const ok = await late.next((f) => f.id === 1);
    assert.deepEqual([ok.type, ok.recovered, ok.replayed], ['subscribed', true, 10]);
    assert.deepEqual((await late.count((f) => f.type === 'message', 10)).map((m) => m.offset), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    late.send({ type: 'subscribe', id: 2, channel: 'prices:usd' });
    await late.next((f) => f.id === 2);
    const gone = await open({ sub: 'gone' });
    gone.send({ type: 'subscribe', id: 1, channel: 'prices:eur', recover: { epoch: epochOf('prices:eur'), offset: 4 } });
    const notOk = await gone.next((f) => f.id === 1);
    assert.deepEqual([notOk.recovered, notOk.reason, notOk.offset], [false, 'history_gone', 15]);
    // news is in no namespace: the top-level historySize (1000) keeps all 14
    const news = (await api(port, 'GET', '/api/history?channel=news&since=0')).body;
    assert.deepEqual([news.complete, news.publications.length], [true, 14]);
    const pricesHistory = (await api(port, 'GET', '/api/history?channel=prices:eur&since=5')).body;
    assert.deepEqual([pricesHistory.complete, pricesHistory.publications.map((p: { offset: number }) => p.offset)], [true, [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]]);

    // typing: keeps nothing: a recovery that missed messages says history_off, one that missed none succeeds
    const typingEpoch = epochOf('typing:1');
    const t1 = await open({ sub: 't1' });
    t1.send({ type: 'subscribe', id: 1, channel: 'typing:1', recover: { epoch: typingEpoch, offset: 10 } });
    const off = await t1.next((f) => f.id === 1);
    assert.deepEqual([off.type, off.recovered, off.reason, off.offset], ['subscribed', false, 'history_off', 14]);
    t1.send({ type: 'unsubscribe', id: 2, channel: 'typing:1' });
    await t1.next((f) => f.id === 2);
    t1.send({ type: 'subscribe', id: 3, channel: 'typing:1', recover: { epoch: typingEpoch, offset: typing.at(-1).offset } });
    const none = await t1.next((f) => f.id === 3);
    assert.deepEqual([none.recovered, none.replayed], [true, 0], 'nothing missed: recovered, even without history');
    const typingHistory = (await api(port, 'GET', '/api/history?channel=typing:1&since=0')).body;
    assert.deepEqual([typingHistory.complete, typingHistory.reason], [false, 'history_off']);

    // user: needs the channels claim to list the channel; desk: needs role trader or admin
    const plain = await open({ sub: 'alice' });
    plain.send({ type: 'subscribe', id: 1, channel: 'user:alice' });
    const noClaim = await plain.next((f) => f.id === 1);
    assert.deepEqual([noClaim.type, noClaim.code], ['error', 'FG_ERR_FORBIDDEN_CHANNEL']);
    assert.match(noClaim.message, /namespace user: requires the `channels` claim to list the channel/);
    plain.send({ type: 'publish', id: 2, channel: 'user:alice', data: 1 });
    assert.equal((await plain.next((f) => f.id === 2)).code, 'FG_ERR_FORBIDDEN_CHANNEL', 'publish is checked like subscribe');
    const alice = await open({ sub: 'alice', channels: ['user:alice', 'chat:*', 'desk:*'] });
    alice.send({ type: 'subscribe', id: 1, channel: 'user:alice' });
    alice.send({ type: 'subscribe', id: 2, channel: 'user:bob' });
    alice.send({ type: 'subscribe', id: 3, channel: 'desk:fx' });
    assert.equal((await alice.next((f) => f.id === 1)).type, 'subscribed');
    assert.equal((await alice.next((f) => f.id === 2)).code, 'FG_ERR_FORBIDDEN_CHANNEL');
    const noRole = await alice.next((f) => f.id === 3);
    assert.equal(noRole.code, 'FG_ERR_FORBIDDEN_CHANNEL');
    assert.match(noRole.message, /namespace desk: requires claim `role` to be "trader" or "admin"/);
    const trader = await open({ sub: 'tom', role: 'trader' });
    trader.send({ type: 'subscribe', id: 1, channel: 'desk:fx' });
    assert.equal((await trader.next((f) => f.id === 1)).type, 'subscribed');
    const viewer = await open({ sub: 'vic', role: ['viewer'] });
    viewer.send({ type: 'subscribe', id: 1, channel: 'desk:fx' });
    assert.equal((await viewer.next((f) => f.id === 1)).code, 'FG_ERR_FORBIDDEN_CHANNEL');
    // a refresh with a token that has the role opens the namespace on the same connection
    viewer.send({ type: 'refresh', id: 2, token: token({ sub: 'vic', role: ['viewer', 'admin'] }) });
    assert.equal((await viewer.next((f) => f.id === 2)).type, 'refreshed');
    viewer.send({ type: 'subscribe', id: 3, channel: 'desk:fx' });
    assert.equal((await viewer.next((f) => f.id === 3)).type, 'subscribed');
  } finally {
    for (const p of peers) p.close();
  }
}

test('namespaces on the memory broker: the docs example as written, its startup block', { timeout: 120_000 }, () =>
  withConfig(async (file) => {
    const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' }, { file, env });
    try {
      await checkExample(g.port);
      const text = formatStartupReport(g.startupReport());
      assert.match(text, /history per channel +1000 messages, 1 MiB, 5m \(channels in no namespace\)/);
      assert.match(text, /namespaces +prices: history 10 messages, 1 MiB, 30s, server publish only, presence off, join/);
      assert.match(text, /\n +typing: no history, clients publish/);
      assert.match(text, /\n +chat: history 200 messages, 1 MiB, 1h, clients publish, presence on, join\/leave on/);
      assert.match(text, /\n +desk: .*claim role ∈ \{trader, admin\}/);
      assert.equal(g.startupReport().namespaces.length, 5);
      // the SDK rejects a publish in a server-only namespace with the server's code, not as unknown
      const sdk = new Client(`ws://127.0.0.1:${g.port}/`, { token: token({ sub: 'sdk' }), circuitThreshold: 0, requestTimeout: 10_000 });
      try {
        await assert.rejects(sdk.publish('prices:eur', 1), (e: FloodgateError) => e.code === 'FG_ERR_PUBLISH_FORBIDDEN' && e.details?.channel === 'prices:eur');
        assert.equal((await sdk.publish('chat:lobby', 1)).offset, 2);
      } finally {
        await sdk.close();
      }
    } finally {
      await g.close(1000);
    }
  }));

test('namespaces on the Redis broker (real redis-server): the same example, the same answers', { timeout: 90_000 }, async () => {
  const redis = await startRedis();
  try {
    await withConfig(async (file) => {
      const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', broker: redis.url }, { file, env });
      try {
        await checkExample(g.port);
      } finally {
        await g.close(1000);
      }
    });
  } finally {
    await redis.kill();
  }
});

test('namespaces with serve --workers 2 (history in the primary, shared over IPC): the same example, the same answers', { timeout: 180_000 }, () =>
  withConfig(async (file) => {
    const g = await startGateway(0, ['--config', file, '--workers', '2', '--worker-balance', 'round-robin'], env);
    try {
      await checkExample(g.port);
    } finally {
      const code = await g.stop('SIGTERM');
      assert.equal(code, 0, g.stderr.slice(-1000));
    }
  }));

test('claim rules without token checks stop the gateway at start, naming the field', async () => {
  await assert.rejects(
    createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', namespaces: { 'desk:': { requireClaims: { role: 'admin' } } } }, { env: {} }),
    (e: Error & { code?: string }) => e.code === 'FG_ERR_INVALID_CONFIG' && /`namespaces\.desk:\.requireClaims`: token claims are only known when the gateway checks tokens/.test(e.message),
  );
});
