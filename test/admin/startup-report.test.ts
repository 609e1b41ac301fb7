import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway, type GatewayOptions } from '../../src/server/gateway.js';
import { formatStartupReport } from '../../src/admin/startup-report.js';
import { startRedis } from '../helpers/redis-server.js';

// The startup block's presence row and the report's `presence` object, from real gateways.

const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;

async function reportOf(options: GatewayOptions) {
  const g = await createGateway({ ...base, ...options });
  try {
    const report = g.startupReport();
    return { report, text: formatStartupReport(report) };
  } finally {
    await g.close(1000);
  }
}

/** The value of one row of the human block. */
function row(text: string, key: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`  ${key.padEnd(22)} `))?.slice(25);
}

test('presence off everywhere (the default): the row says so and how to turn it on', { timeout: 60_000 }, async () => {
  const { report, text } = await reportOf({});
  assert.deepEqual(report.presence, {
    presence: false, joinLeave: false, presenceNamespaces: [], joinLeaveNamespaces: [], limit: 1000, ttlMs: null,
    text: 'off (turn it on with --presence, --join-leave or per namespace)',
  });
  assert.equal(row(text, 'presence'), report.presence.text);
});

test('presence on for every channel, join/leave off: the row names the limit', { timeout: 60_000 }, async () => {
  const { report, text } = await reportOf({ presence: true, presenceLimit: 50 });
  assert.equal(report.presence.presence, true);
  assert.equal(report.presence.joinLeave, false);
  assert.equal(row(text, 'presence'), 'on for every channel; join/leave off; answers list up to 50 subs');
});

test('namespaces turn presence and join/leave on per prefix: the row lists them beside the top-level default', { timeout: 60_000 }, async () => {
  const { report, text } = await reportOf({
    joinLeave: true,
    namespaces: { 'chat:': { presence: true }, 'room:': { presence: true, joinLeave: false }, 'prices:': { historySize: 10 } },
  } as GatewayOptions);
  assert.deepEqual([report.presence.presenceNamespaces, report.presence.joinLeaveNamespaces], [['chat:', 'room:'], ['chat:', 'prices:']]);
  assert.equal(row(text, 'presence'), 'on for namespaces chat:, room:; join/leave on for channels in no namespace and namespaces chat:, prices:; answers list up to 1000 subs');
});

test('Redis broker (real redis-server): the row says when a dead node\'s entries expire', { timeout: 120_000 }, async () => {
  const redis = await startRedis();
  try {
    const { report, text } = await reportOf({ broker: redis.url, presence: true, joinLeave: true, presenceTtl: '30s' });
    assert.equal(report.presence.ttlMs, 30_000);
    assert.equal(row(text, 'presence'), 'on for every channel; join/leave on for every channel; answers list up to 1000 subs; a node\'s entries expire 30s after its last refresh');
  } finally {
    await redis.kill();
  }
});
