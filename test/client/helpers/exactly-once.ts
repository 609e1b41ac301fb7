import assert from 'node:assert/strict';
import { Client, type ClientOptions, type RecoveryEvent } from '../../../src/client/index.js';
import { TcpProxy } from './tcp-proxy.js';

const fast: ClientOptions = { initialDelay: 20, multiplier: 1.5, maxDelay: 200, circuitThreshold: 0, connectTimeout: 3000 };

export function until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

/** Deterministic random numbers, so a failing run can be replayed (FG_SEED). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Several SDK clients, each behind its own TCP proxy, subscribe to two channels; a publisher
 * sends N messages per channel while the test cuts proxied connections and takes paths down at
 * random. Asserts every client got offsets 1…N of each channel exactly once, in order, and that
 * messages missed during outages were replayed. Returns a one-line summary.
 */
export async function exactlyOnceScenario(gatewayPort: number, N = 2500, nClients = 4): Promise<string> {
  const channels = ['orders', 'prices'];
  const proxies = await Promise.all(Array.from({ length: nClients }, () => new TcpProxy(gatewayPort).start()));
  const rnd = seeded(Number(process.env.FG_SEED ?? 20261122));
  const clients: Client[] = [];
  const received = new Map<string, { offset: number; seq: number }[]>();
  const recoveries: RecoveryEvent[] = [];
  const restarts: Promise<unknown>[] = [];
  const publisher = new Client(`ws://127.0.0.1:${gatewayPort}/`, fast);
  try {
    for (const [i, p] of proxies.entries()) {
      const c = new Client(`ws://127.0.0.1:${p.port}/`, fast);
      c.on('recovery', (r) => recoveries.push(r));
      for (const ch of channels) {
        const got: { offset: number; seq: number }[] = [];
        received.set(`${i}/${ch}`, got);
        c.subscribe(ch, (m) => got.push({ offset: m.offset, seq: (m.data as { seq: number }).seq }));
      }
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.ready(5000)));
    await until(() => clients.every((c) => channels.every((ch) => c.getSubscription(ch)?.state === 'subscribed')), 5000, 'subscribed');

    await publisher.ready(5000);
    const down = new Set<TcpProxy>();
    let cuts = 0;
    let outages = 0;
    const BATCH = 50;
    for (let seq = 1; seq <= N; seq += BATCH) {
      const acks: Promise<unknown>[] = [];
      for (let s = seq; s < seq + BATCH && s <= N; s++) for (const ch of channels) acks.push(publisher.publish(ch, { seq: s }));
      // Random faults between batches: cut one client's connections, or take its path down for a while.
      const r = rnd();
      const proxy = proxies[Math.floor(rnd() * proxies.length)];
      if (r < 0.25) {
        proxy.cut();
        cuts++;
      } else if (r < 0.35 && !down.has(proxy)) {
        outages++;
        down.add(proxy);
        await proxy.stop();
        const downFor = 20 + Math.floor(rnd() * 80);
        restarts.push(new Promise((resolve) => setTimeout(resolve, downFor)).then(() => proxy.start()).then(() => down.delete(proxy)));
      }
      const results = (await Promise.all(acks)) as { offset: number }[];
      assert.equal(results.length, acks.length);
      // Let reconnects happen between faults (the delays are 20–200 ms), so most faults hit a live connection.
      await new Promise((r) => setTimeout(r, 10 + Math.floor(rnd() * 40)));
    }
    // Every path is back up; wait for all to catch up.
    await Promise.all(restarts);
    await until(() => [...received.values()].every((got) => got.length >= N), 30_000, `all ${N} messages on every subscription`);

    for (const [key, got] of received) {
      assert.equal(got.length, N, `${key}: ${got.length} messages`);
      for (let k = 0; k < N; k++) {
        if (got[k].offset !== k + 1 || got[k].seq !== k + 1) assert.fail(`${key}: position ${k} has offset ${got[k].offset} seq ${got[k].seq}`);
      }
    }
    assert.ok(cuts + outages >= 10, `only ${cuts} cuts and ${outages} outages`);
    // A cut can hit a client that is still reconnecting, so not every fault ends in its own recovery.
    assert.ok(recoveries.length >= Math.floor((cuts + outages) / 3), `${recoveries.length} recoveries for ${cuts + outages} faults`);
    assert.deepEqual(recoveries.filter((r) => !r.recovered), [], 'every recovery succeeded');
    for (const c of clients) for (const ch of channels) assert.equal(c.getSubscription(ch)?.stats.gaps, 0);
    const replayed = recoveries.reduce((n, r) => n + (r.replayed ?? 0), 0);
    assert.ok(replayed > 0, 'messages published during outages were replayed');
    return (`${cuts} cuts, ${outages} outages, ${recoveries.length} recoveries, ${replayed} messages replayed, ` +
      `${clients.reduce((n, c) => n + channels.reduce((m, ch) => m + (c.getSubscription(ch)?.stats.duplicatesDropped ?? 0), 0), 0)} duplicates dropped`);
  } finally {
    await Promise.allSettled(restarts); // a path coming back after stop() would leak a listener
    await publisher.close();
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(proxies.map((p) => p.stop()));
  }
}

