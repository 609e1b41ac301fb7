import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../../src/server/gateway.js';
import { endpointOf } from '../../src/admin/api-counters.js';
import { call } from '../helpers/http-call.js';

const KEY = 'k-counters';
const base = { host: '127.0.0.1', port: 0, logLevel: 'silent', adminPort: 0, apiKey: KEY } as const;

/** The value of one sample line of the Prometheus text, or undefined when absent. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

test('endpoints are the API routes; anything else under /api/ is `other`', () => {
  assert.equal(endpointOf('/api/publish'), 'publish');
  assert.equal(endpointOf('/api/history'), 'history');
  assert.equal(endpointOf('/api/other'), 'other');
  assert.equal(endpointOf('/api/nope'), 'other');
  assert.equal(endpointOf('/api'), 'other');
});

test('/stats and /metrics count server API requests by endpoint and outcome, and the publications made through it', { timeout: 120_000 }, async () => {
  const g = await createGateway({ ...base, historySize: 10 });
  try {
    const port = g.admin.address!.port;
    const api = (method: string, path: string, body?: object, key = KEY) => call(port, method, path, { body, headers: { 'x-api-key': key } });
    assert.equal((await api('POST', '/api/publish', { channel: 'a', data: 1 })).status, 200);
    assert.equal((await api('POST', '/api/publish', { channel: 'a', data: 2, idempotencyKey: 'k1' })).status, 200);
    assert.equal((await api('POST', '/api/publish', { channel: 'a', data: 2, idempotencyKey: 'k1' })).body.duplicate, true);
    assert.equal((await api('POST', '/api/publish', { channel: 'a b', data: 1 })).body.code, 'FG_ERR_BAD_CHANNEL');
    assert.equal((await api('POST', '/api/publish', { channel: 'a', data: 1 }, 'wrong')).status, 401);
    assert.equal((await api('POST', '/api/broadcast', { channels: ['a', 'b', 'c'], data: 'x' })).body.published, 3);
    assert.equal((await api('GET', '/api/publish')).status, 405);
    assert.equal((await api('GET', '/api/nowhere')).status, 404);
    assert.equal((await api('GET', '/api/history?channel=a')).body.publications.length, 3); // 1, 2 and the broadcast

    const stats = (await call(port, 'GET', '/stats')).body;
    assert.deepEqual(stats.api.requests, {
      publish: { ok: 3, FG_ERR_BAD_CHANNEL: 1, FG_ERR_API_KEY: 1, FG_ERR_API_METHOD: 1 },
      broadcast: { ok: 1 },
      disconnect: {},
      channels: {},
      history: { ok: 1 },
      other: { FG_ERR_NOT_FOUND: 1 },
    });
    assert.equal(stats.api.publications, 2 + 3);
    assert.equal(stats.api.duplicatePublishes, 1);
    assert.equal(stats.api.broadcastFailures, 0);
    // the machine view sums the same section (one process here)
    assert.deepEqual((await call(port, 'GET', '/stats/machine')).body.api, stats.api);

    const text = (await call(port, 'GET', '/metrics')).body as string;
    assert.equal(sample(text, 'floodgate_api_requests_total{endpoint="publish",outcome="ok"}'), 3);
    assert.equal(sample(text, 'floodgate_api_requests_total{endpoint="publish",outcome="FG_ERR_API_KEY"}'), 1);
    assert.equal(sample(text, 'floodgate_api_requests_total{endpoint="other",outcome="FG_ERR_NOT_FOUND"}'), 1);
    assert.equal(sample(text, 'floodgate_api_publications_total'), 5);
    assert.equal(sample(text, 'floodgate_api_duplicate_publishes_total'), 1);
  } finally {
    await g.close(1000);
  }
});
