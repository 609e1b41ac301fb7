import type { GatewayStats } from '../server/stats.js';
import type { AdminStats } from './admin-stats.js';
import { newApiStats } from './api-counters.js';

/**
 * `GET /stats/machine`: the workers of one `floodgate serve --workers N` summed. Any worker may
 * answer the request (they share the port), so it asks the primary, which collects every
 * worker's `stats()` over the workers' round trip (src/server/worker-calls.ts, machine-calls.ts).
 */
export interface MachineStats {
  scope: 'machine';
  /** Workers that answered within the time limit; a missing one is named, never silently left out. */
  workers: { expected: number; answered: number; missing: number[] };
  /** Sums over the workers (the cap is the machine's: each worker holds its share). */
  connections: { current: number; cap: number; handshaking: number; waiting: number; accepting: number };
  admission: GatewayStats['admission'];
  closed: GatewayStats['closed'];
  messages: GatewayStats['messages'];
  /** The server API's counters summed: whichever worker took a request counted it. */
  api: AdminStats['api'];
  memory: { rss: number };
  fds: { open: number };
  /** The broker as the first worker to answer sees it (they share one). */
  broker: GatewayStats['broker'] | undefined;
  perWorker: { index: number; pid: number; node: string; connections: number; peak: number; cap: number; rss: number; fds: number | undefined }[];
}

export interface WorkerReport {
  index: number;
  stats: AdminStats;
}

type Numbers = { [k: string]: number | Numbers };

/** Adds every numeric leaf of `b` into `a` (same shape). */
function addInto<T extends Numbers>(a: T, b: T): T {
  for (const [k, v] of Object.entries(b)) {
    const cur = a[k];
    if (typeof v === 'number') (a as Numbers)[k] = (typeof cur === 'number' ? cur : 0) + v;
    else (a as Numbers)[k] = addInto((cur ?? {}) as Numbers, v);
  }
  return a;
}

const sum = <T>(parts: T[]): T => parts.reduce((acc, p) => addInto(acc as Numbers, structuredClone(p) as Numbers) as T, {} as T);

export function aggregateStats(reports: WorkerReport[], expected: number): MachineStats {
  const sorted = [...reports].sort((x, y) => x.index - y.index);
  const all = sorted.map((r) => r.stats);
  const answered = new Set(sorted.map((r) => r.index));
  const missing: number[] = [];
  for (let i = 0; i < expected; i++) if (!answered.has(i)) missing.push(i);
  return {
    scope: 'machine',
    workers: { expected, answered: sorted.length, missing },
    connections: sum(all.map((s) => ({
      current: s.connections.current, cap: s.connections.cap, handshaking: s.connections.handshaking,
      waiting: s.connections.waiting, accepting: s.connections.accepting,
    }))),
    admission: sum(all.map((s) => s.admission)),
    closed: sum(all.map((s) => s.closed)),
    messages: sum(all.map((s) => s.messages)),
    api: sum([newApiStats(), ...all.map((s) => s.api ?? newApiStats())]),
    memory: { rss: all.reduce((t, s) => t + s.memory.rss, 0) },
    fds: { open: all.reduce((t, s) => t + (s.fds.open ?? 0), 0) },
    broker: all[0]?.broker,
    perWorker: sorted.map((r) => ({
      index: r.index, pid: r.stats.pid, node: r.stats.node, connections: r.stats.connections.current,
      peak: r.stats.connections.peak, cap: r.stats.connections.cap, rss: r.stats.memory.rss, fds: r.stats.fds.open,
    })),
  };
}
