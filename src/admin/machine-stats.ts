import type { GatewayStats } from '../server/stats.js';

/**
 * `GET /stats/machine`: the workers of one `floodgate serve --workers N` summed. Any worker may
 * answer the request (they share the port), so it asks the primary, which collects every
 * worker's `stats()` over the cluster IPC channel and hands them back.
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
  memory: { rss: number };
  fds: { open: number };
  /** The broker as the first worker to answer sees it (they share one). */
  broker: GatewayStats['broker'] | undefined;
  perWorker: { index: number; pid: number; node: string; connections: number; peak: number; cap: number; rss: number; fds: number | undefined }[];
}

export interface WorkerReport {
  index: number;
  stats: GatewayStats;
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
    memory: { rss: all.reduce((t, s) => t + s.memory.rss, 0) },
    fds: { open: all.reduce((t, s) => t + (s.fds.open ?? 0), 0) },
    broker: all[0]?.broker,
    perWorker: sorted.map((r) => ({
      index: r.index, pid: r.stats.pid, node: r.stats.node, connections: r.stats.connections.current,
      peak: r.stats.connections.peak, cap: r.stats.connections.cap, rss: r.stats.memory.rss, fds: r.stats.fds.open,
    })),
  };
}

/** Worker → primary → every worker → primary → the asking worker. */
export type MachineStatsMessage =
  | { fg: 'stats'; t: 'ask'; id: number }
  | { fg: 'stats'; t: 'collect'; cid: string }
  | { fg: 'stats'; t: 'report'; cid: string; index: number; stats: GatewayStats }
  | { fg: 'stats'; t: 'answer'; id: number; reports: WorkerReport[]; expected: number };

export function isMachineStatsMessage(m: unknown): m is MachineStatsMessage {
  return typeof m === 'object' && m !== null && (m as { fg?: unknown }).fg === 'stats';
}

/** How long the primary waits for the workers before it answers with what it has. */
export const COLLECT_TIMEOUT_MS = 1000;

interface Collection {
  asker: number;
  id: number;
  reports: WorkerReport[];
  expected: Set<number>;
  timer: NodeJS.Timeout;
}

/** The primary's side: fans a question out to the live workers and gathers their answers. */
export class MachineStatsHost {
  private readonly pending = new Map<string, Collection>();
  private seq = 0;

  constructor(
    private readonly send: (index: number, m: MachineStatsMessage) => void,
    private readonly live: () => number[],
    private readonly expected: number,
  ) {}

  onMessage(from: number, m: MachineStatsMessage): void {
    if (m.t === 'ask') {
      const cid = `${from}:${m.id}:${++this.seq}`;
      const targets = this.live();
      const c: Collection = {
        asker: from, id: m.id, reports: [], expected: new Set(targets),
        timer: setTimeout(() => this.finish(cid), COLLECT_TIMEOUT_MS),
      };
      c.timer.unref();
      this.pending.set(cid, c);
      for (const i of targets) this.send(i, { fg: 'stats', t: 'collect', cid });
      if (targets.length === 0) this.finish(cid);
    } else if (m.t === 'report') {
      const c = this.pending.get(m.cid);
      if (!c) return; // too late: already answered
      c.reports.push({ index: m.index, stats: m.stats });
      c.expected.delete(m.index);
      if (c.expected.size === 0) this.finish(m.cid);
    }
  }

  private finish(cid: string): void {
    const c = this.pending.get(cid);
    if (!c) return;
    this.pending.delete(cid);
    clearTimeout(c.timer);
    this.send(c.asker, { fg: 'stats', t: 'answer', id: c.id, reports: c.reports, expected: this.expected });
  }
}

/** A worker's side: answers the primary's collections and asks for the machine's sums. */
export class MachineStatsClient {
  private nextId = 0;
  private readonly waiting = new Map<number, (m: { reports: WorkerReport[]; expected: number }) => void>();

  constructor(
    private readonly index: number,
    private readonly stats: () => GatewayStats,
    private readonly send: (m: MachineStatsMessage) => void,
  ) {}

  onMessage(m: MachineStatsMessage): void {
    if (m.t === 'collect') this.send({ fg: 'stats', t: 'report', cid: m.cid, index: this.index, stats: this.stats() });
    else if (m.t === 'answer') {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    }
  }

  /** Rejects when the primary does not answer (it waits at most COLLECT_TIMEOUT_MS itself). */
  ask(timeoutMs = COLLECT_TIMEOUT_MS * 3): Promise<MachineStats> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(aggregateStats(m.reports, m.expected));
      });
      this.send({ fg: 'stats', t: 'ask', id });
    });
  }
}
