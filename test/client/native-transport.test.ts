// transport: 'native' uses the runtime's global WebSocket: Node >= 22 has one (and CI runs the
// suite on 22 and 24), Node 20 does not and says so with a coded error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../../src/client/index.js';
import type { FloodgateError } from '../../src/errors.js';
import { createGateway } from '../../src/server/gateway.js';

const hasGlobal = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function';

test(`transport 'native' on Node ${process.versions.node}: ${hasGlobal ? 'the global WebSocket carries subscribe, publish and message' : 'FG_ERR_UNSUPPORTED_PLATFORM, naming Node >= 22'}`, async () => {
  assert.equal(hasGlobal, Number(process.versions.node.split('.')[0]) >= 22, 'Node 22 made WebSocket a global');
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  const c = new Client(`ws://127.0.0.1:${g.port}/`, { transport: 'native', maxAttempts: 1, initialDelay: 10 });
  const errors: FloodgateError[] = [];
  c.on('error', (e) => errors.push(e));
  try {
    if (hasGlobal) {
      const got: unknown[] = [];
      c.subscribe('n', (m) => got.push(m.data));
      await c.ready(30_000);
      assert.deepEqual(await c.publish('n', { a: 1 }).then((r) => r.offset), 1);
      const deadline = Date.now() + 30_000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got, [{ a: 1 }]);
      assert.deepEqual(errors, []);
    } else {
      await assert.rejects(c.ready(30_000));
      assert.equal(errors[0]?.code, 'FG_ERR_UNSUPPORTED_PLATFORM');
      assert.match(errors[0].message, /^transport 'native' needs a global WebSocket \(browsers, Node >= 22\): install the `ws` package and use transport 'auto', or pass options.WebSocket$/);
    }
  } finally {
    await c.close();
    await g.close(1000);
  }
});
