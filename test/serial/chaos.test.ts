import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFigures, runChaos } from '../helpers/chaos.js';
import { haproxyAvailable } from '../helpers/haproxy.js';

// The chaos suite (small variant; `npm run soak` runs a bigger one). See test/helpers/chaos.ts.
const skip = haproxyAvailable() ? false : 'haproxy is not installed (apt-get install -y haproxy)';

test('chaos: 30 SDK clients behind a proxy cutting 10 %/s, HAProxy, 3 gateways; kill -9 of a gateway, Redis restarted empty: nothing lost silently, no duplicate, publisher order, honest outcome codes', { skip, timeout: 180_000 }, async () => {
  const f = await runChaos({ clients: 30, channels: 4, ratePerSecond: 100, seconds: 15, cutPerSecond: 0.1, killAt: 4, redisRestartAt: 9, redisDownMs: 1000, log: (l) => console.log(l) });
  console.log(`# ${formatFigures(f)}`);
  assert.equal(f.lost, 0, 'acknowledged and never delivered without a recovered:false');
  assert.equal(f.undelivered, 0, 'acknowledged and not delivered by the end');
  assert.equal(f.duplicated, 0, 'one publish delivered twice');
  assert.equal(f.outOfOrder, 0, 'publisher order');
  assert.equal(f.refusedButDelivered, 0, '"not published" answers that were delivered');
  assert.equal(f.gaps, 0, 'holes the SDK saw without an explanation');
  assert.ok(f.acknowledged > 0 && f.reconnects > 0 && f.cuts > 0, 'the run did something');
  // every recovered:false is explained by the Redis restart (epoch_changed) or its outage (unavailable)
  assert.deepEqual(Object.keys(f.recoveredFalse).filter((r) => r !== 'epoch_changed' && r !== 'unavailable'), []);
});

test('a CPU hog on both cores and a gateway killed: the documented HAProxy config marks no healthy gateway down', { skip, timeout: 180_000 }, async () => {
  const f = await runChaos({ clients: 30, channels: 4, ratePerSecond: 100, seconds: 15, cutPerSecond: 0.1, killAt: 4, hogCores: 2, log: (l) => console.log(l) });
  console.log(`# under a CPU hog: ${formatFigures(f)}`);
  const healthyDown = Object.entries(f.downEvents).filter(([name]) => name !== f.killed);
  assert.deepEqual(healthyDown, [], 'healthy gateways marked down');
  assert.equal(f.lost, 0);
  assert.equal(f.undelivered, 0);
  assert.equal(f.duplicated, 0);
  assert.equal(f.outOfOrder, 0);
  assert.equal(f.refusedButDelivered, 0);
  assert.deepEqual(f.recoveredFalse, {}, 'Redis was up: every reconnect recovered');
  // Redis was up: the gateways refused nothing (the SDK may decline to send a publish whose
  // answer could not come before its requestTimeout on a box this loaded: that is its own answer)
  assert.deepEqual(Object.keys(f.refusedBy).filter((why) => !why.startsWith('SDK:')), [], 'refused by a gateway with Redis up');
});
