import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type RecoveryEvent } from '../../src/client/index.js';
import type { FloodgateError } from '../../src/errors.js';
import { startGateway, type GatewayProcess } from '../helpers/scale-gateway.js';
import { exactlyOnceScenario, until } from '../client/helpers/exactly-once.js';

const fast = { initialDelay: 20, maxDelay: 200, circuitThreshold: 0 };


test('against a real `floodgate serve` process: exactly once across random drops, then SIGTERM restart (1001, epoch_changed)', async () => {
  const flags = ['--history-size', '10000', '--rate-burst', '1000000', '--rate-refill', '1000000'];
  let gw: GatewayProcess = await startGateway(0, flags);
  const port = gw.port; // the restart below binds this port again: the client reconnects to the same URL
  const c = new Client(`ws://127.0.0.1:${port}/`, fast);
  try {
    console.log(`# ${await exactlyOnceScenario(port, 2000, 3)}`);

    const got: number[] = [];
    c.subscribe('restart', (m) => got.push(m.offset));
    await until(() => c.getSubscription('restart')?.state === 'subscribed', 5000, 'subscribed');
    await c.publish('restart', 'before');
    await until(() => got.length === 1, 5000, 'first message');
    const gone = new Promise<{ code: number }>((r) => c.once('disconnected', r));
    const recovery = new Promise<RecoveryEvent>((r) => c.once('recovery', r));
    assert.equal(await gw.stop('SIGTERM'), 0);
    assert.equal((await gone).code, 1001, 'graceful shutdown closes with 1001');
    gw = await startGateway(port, flags);
    const ev = await recovery;
    assert.equal(ev.recovered, false);
    assert.equal(ev.reason, 'epoch_changed');
    await c.publish('restart', 'after');
    await until(() => got.length === 2, 5000, 'message after restart');
    assert.deepEqual(got, [1, 1]);
  } finally {
    await c.close();
    await gw.stop();
  }
});

test('against a real `floodgate serve` process: 503 + Retry-After is honoured', async () => {
  const gw = await startGateway(0, ['--max-connections', '1', '--admission-timeout', '0', '--retry-after', '1']);
  const port = gw.port;
  const a = new Client(`ws://127.0.0.1:${port}/`, fast);
  const b = new Client(`ws://127.0.0.1:${port}/`, { ...fast, autoConnect: false });
  try {
    await a.ready(5000);
    const first = new Promise<FloodgateError>((r) => b.once('error', r));
    b.connect();
    const err = await first;
    assert.equal(err.code, 'FG_ERR_OVER_CAPACITY');
    await until(() => b.delays.length > 0, 5000, 'a recorded delay');
    assert.equal(b.delays[0].reason, 'retry-after');
    assert.ok(b.delays[0].delay >= 1000 && b.delays[0].delay <= 1250, `delay ${b.delays[0].delay}`);
    await a.close();
    await b.ready(5000);
  } finally {
    await a.close();
    await b.close();
    await gw.stop();
  }
});
