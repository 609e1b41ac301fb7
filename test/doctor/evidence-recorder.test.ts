import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { EvidenceRecorder } from '../../src/doctor/evidence-recorder.js';
import { PortStatesReader } from '../../src/system/port-states-reader.js';

async function heldConnections(n: number): Promise<{ port: number; close: () => void }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => { s.on('error', () => undefined); accepted.push(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 50, r));
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  for (let i = 0; i < n; i++) clients.push(connect(port, '127.0.0.1').on('error', () => undefined));
  await Promise.all(clients.map((c) => new Promise((r) => c.once('connect', r))));
  return { port, close: () => { for (const s of [...clients, ...accepted]) s.destroy(); server.close(); } };
}

const outcome = { attempts: 0, successes: 0, failures: [], generator: { processes: 1, sourceIps: [] } };
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

/** Starts a recorder, calls sample() `calls` times with a pause, finishes; the generator's CPU is what `gen` says. */
async function record(port: number, via: 'sock_diag' | 'proc', gen: () => number, calls: number) {
  const states = new PortStatesReader(port, '127.0.0.1', { via });
  const rec = new EvidenceRecorder({ url: `ws://127.0.0.1:${port}/`, host: '127.0.0.1', port, local: true, generatorCpuMs: gen, states });
  rec.start(await states.read(true));
  for (let i = 0; i < calls; i++) {
    rec.sample();
    await tick();
  }
  rec.sample(true);
  return rec.finish(outcome);
}

for (const via of ['sock_diag', 'proc'] as const) {
  test(`recorder (${via}): the budget decides the paced reads; forced ones and the peak are there either way`, { timeout: 60_000 }, async () => {
    const lab = await heldConnections(8);
    try {
      // a generator that used no CPU buys no paced read: before, the forced one, after
      const starved = await record(lab.port, via, () => 0, 10);
      assert.equal(starved.socketStates.samples, 3);
      assert.equal(starved.socketStates.establishedSamples, 3);
      assert.equal(starved.socketStates.peak.ESTABLISHED, 16);
      assert.equal(starved.socketStates.before.LISTEN, 1);
      assert.equal(starved.socketStates.via, via);
      assert.equal(starved.socketStates.budgetShare, 0.02);
      assert.ok(starved.socketStates.meanIntervalMs !== undefined && starved.socketStates.maxIntervalMs! >= starved.socketStates.meanIntervalMs);
      // a busy one buys reads on (nearly) every call; with sock_diag most leave ESTABLISHED out,
      // and the peak still has it
      const busy = await record(lab.port, via, () => 1e9, 10);
      assert.ok(busy.socketStates.samples! > 3, `${busy.socketStates.samples} samples`);
      if (via === 'sock_diag') assert.ok(busy.socketStates.establishedSamples! < busy.socketStates.samples!, 'reads without ESTABLISHED');
      else assert.equal(busy.socketStates.establishedSamples, busy.socketStates.samples, '/proc reads count every state');
      assert.equal(busy.socketStates.peak.ESTABLISHED, 16);
      assert.ok(busy.socketStates.cpuMs! > 0);
    } finally {
      lab.close();
    }
  });
}
