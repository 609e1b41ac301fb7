// `broker` is checked at start like every setting: a URL Redis cannot be reached by is a named
// FG_ERR_INVALID_CONFIG, not a TypeError from the URL parser or a crash from `SELECT NaN` later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../../src/server/gateway.js';
import { brokerUrlProblem } from '../../src/broker/broker-url.js';
import type { FloodgateError } from '../../src/errors.js';

test('bad Redis URLs are refused at start, naming `broker` and the accepted form, without echoing a password', { timeout: 60_000 }, async () => {
  for (const broker of ['redis://', 'redis://h:99999', 'redis://127.0.0.1:6379/abc', 'redis://127.0.0.1:6379/1/2', 'redis://127.0.0.1:6379/-1', 'redis://[::1', 'redis:127.0.0.1', 'rediss://u:secret@h:0/1', 'http://h:6379']) {
    await assert.rejects(
      createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', broker }),
      (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /`broker`/.test(e.message) && /redis:\/\/\[user:password@\]host\[:port\]\[\/db\]/.test(e.message) && !e.message.includes('secret'),
      broker,
    );
  }
  for (const ok of ['redis://127.0.0.1:6379', 'redis://127.0.0.1', 'redis://h:6379/', 'redis://:pw@h:6379/15', 'rediss://u:p@redis.example:6380/0', 'redis://[::1]:6379/2']) {
    assert.equal(brokerUrlProblem(ok), undefined, ok);
  }
});
