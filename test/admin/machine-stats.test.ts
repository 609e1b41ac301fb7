import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../../src/server/gateway.js';
import { aggregateStats } from '../../src/admin/machine-stats.js';
import { machineStats, runLocal, type MachineCallOp } from '../../src/admin/machine-calls.js';
import { WorkerCallClient, WorkerCallHost, type WorkerCallMessage } from '../../src/server/worker-calls.js';
import { openPeer } from '../helpers/ws-peer.js';
import { getJson } from '../helpers/scale-gateway.js';

test('one process: /stats/machine is that process, summed the same way', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', maxConnections: 5 });
  try {
    const peers = await Promise.all([openPeer(`ws://127.0.0.1:${g.port}/`), openPeer(`ws://127.0.0.1:${g.port}/`)]);
    const m = (await getJson(g.port, '/stats/machine')).body;
    assert.equal(m.scope, 'machine');
    assert.deepEqual(m.workers, { expected: 1, answered: 1, missing: [] });
    assert.deepEqual([m.connections.current, m.connections.cap, m.admission.admitted], [2, 5, 2]);
    assert.equal(m.perWorker[0].pid, process.pid);
    for (const p of peers) p.close();
  } finally {
    await g.close(1000);
  }
});

test('primary and workers over a message channel: every worker is asked, a silent one is named missing', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  try {
    const base = g.stats();
    const statsOf = (current: number, rejected: number) => ({
      ...base,
      connections: { ...base.connections, current, cap: 100 },
      admission: { ...base.admission, rejected: { ...base.admission.rejected, over_capacity: rejected } },
    });
    const clients: WorkerCallClient<MachineCallOp>[] = [];
    const silent = new Set<number>([2]);
    const host = new WorkerCallHost(
      (i, m) => setImmediate(() => clients[i].onMessage(m)),
      () => [0, 1, 2],
      3,
    );
    for (let i = 0; i < 3; i++) {
      const local = { stats: () => statsOf(10 * (i + 1), i), disconnect: () => 0, channels: () => [] };
      clients.push(new WorkerCallClient<MachineCallOp>(i, (call) => runLocal(local, call), (m: WorkerCallMessage<MachineCallOp>) => {
        if (silent.has(i) && m.t === 'result') return; // this worker never answers
        setImmediate(() => host.onMessage(i, m));
      }));
    }
    const ask = (i: number) => machineStats((call, waitMs) => clients[i].ask(call, waitMs));
    const m = await ask(1);
    assert.deepEqual(m.workers, { expected: 3, answered: 2, missing: [2] });
    assert.equal(m.connections.current, 10 + 20);
    assert.equal(m.connections.cap, 200);
    assert.equal(m.admission.rejected.over_capacity, 0 + 1);
    silent.clear();
    const all = await ask(0);
    assert.deepEqual(all.workers, { expected: 3, answered: 3, missing: [] });
    assert.equal(all.connections.current, 60);
  } finally {
    await g.close(1000);
  }
});

test('aggregateStats sums counters and keeps the peak of each worker', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  try {
    const s = g.stats();
    const m = aggregateStats([{ index: 1, stats: { ...s, connections: { ...s.connections, peak: 7 } } }, { index: 0, stats: s }], 2);
    assert.deepEqual(m.perWorker.map((w) => [w.index, w.peak]), [[0, s.connections.peak], [1, 7]]);
    assert.equal(m.messages.in, 2 * s.messages.in);
  } finally {
    await g.close(1000);
  }
});
