import type { ApiBackend, ChannelRow, DisconnectResult } from './api-backend.js';
import type { Broker } from '../broker/broker.js';

/**
 * Server API calls that must reach every worker of `serve --workers N` (disconnect a user,
 * list channels). The workers share the admin port, so whichever worker takes the request asks
 * the primary, which runs the call on every live worker over the cluster IPC channel and hands
 * the answers back — the same round trip as GET /stats/machine (src/admin/machine-stats.ts).
 */
export type MachineCallOp = { op: 'disconnect'; sub: string } | { op: 'channels' };

export type MachineCallMessage =
  | { fg: 'admin'; t: 'ask'; id: number; call: MachineCallOp }
  | { fg: 'admin'; t: 'run'; cid: string; call: MachineCallOp }
  | { fg: 'admin'; t: 'result'; cid: string; index: number; value: unknown }
  | { fg: 'admin'; t: 'answer'; id: number; results: { index: number; value: unknown }[]; expected: number };

export function isMachineCallMessage(m: unknown): m is MachineCallMessage {
  return typeof m === 'object' && m !== null && (m as { fg?: unknown }).fg === 'admin';
}

/** How long the primary waits for every worker before it answers with what it has. */
export const CALL_TIMEOUT_MS = 2000;

interface Pending {
  asker: number;
  id: number;
  results: { index: number; value: unknown }[];
  waiting: Set<number>;
  timer: NodeJS.Timeout;
}

/** The primary's side. */
export class MachineCallHost {
  private readonly pending = new Map<string, Pending>();
  private seq = 0;

  constructor(
    private readonly send: (index: number, m: MachineCallMessage) => void,
    private readonly live: () => number[],
    private readonly expected: number,
  ) {}

  onMessage(from: number, m: MachineCallMessage): void {
    if (m.t === 'ask') {
      const cid = `${from}:${m.id}:${++this.seq}`;
      const targets = this.live();
      const p: Pending = { asker: from, id: m.id, results: [], waiting: new Set(targets), timer: setTimeout(() => this.finish(cid), CALL_TIMEOUT_MS) };
      p.timer.unref();
      this.pending.set(cid, p);
      for (const i of targets) this.send(i, { fg: 'admin', t: 'run', cid, call: m.call });
      if (targets.length === 0) this.finish(cid);
    } else if (m.t === 'result') {
      const p = this.pending.get(m.cid);
      if (!p) return;
      p.results.push({ index: m.index, value: m.value });
      p.waiting.delete(m.index);
      if (p.waiting.size === 0) this.finish(m.cid);
    }
  }

  private finish(cid: string): void {
    const p = this.pending.get(cid);
    if (!p) return;
    this.pending.delete(cid);
    clearTimeout(p.timer);
    this.send(p.asker, { fg: 'admin', t: 'answer', id: p.id, results: p.results, expected: this.expected });
  }
}

/** What one worker does when the primary runs a call on it. */
export interface LocalCalls {
  disconnect(sub: string): number;
  channels(): ChannelRow[];
}

/** A worker's side: runs calls for the primary and asks it to run calls machine-wide. */
export class MachineCallClient {
  private nextId = 0;
  private readonly waiting = new Map<number, (m: { results: { index: number; value: unknown }[]; expected: number }) => void>();

  constructor(
    private readonly index: number,
    private readonly local: LocalCalls,
    private readonly send: (m: MachineCallMessage) => void,
  ) {}

  onMessage(m: MachineCallMessage): void {
    if (m.t === 'run') {
      const value = m.call.op === 'disconnect' ? this.local.disconnect(m.call.sub) : this.local.channels();
      this.send({ fg: 'admin', t: 'result', cid: m.cid, index: this.index, value });
    } else if (m.t === 'answer') {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    }
  }

  ask(call: MachineCallOp, timeoutMs = CALL_TIMEOUT_MS * 3): Promise<{ results: { index: number; value: unknown }[]; expected: number }> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.send({ fg: 'admin', t: 'ask', id, call });
    });
  }

  /** The server API's backend for a worker: publish through the shared broker, the rest machine-wide. */
  backend(broker: Broker): ApiBackend {
    return {
      broker,
      disconnect: async (sub): Promise<DisconnectResult> => {
        const { results, expected } = await this.ask({ op: 'disconnect', sub });
        return { closed: results.reduce((t, r) => t + (r.value as number), 0), workers: coverage(results, expected) };
      },
      channels: async (): Promise<ChannelRow[]> => {
        const { results } = await this.ask({ op: 'channels' });
        const sums = new Map<string, number>();
        for (const r of results) for (const row of r.value as ChannelRow[]) sums.set(row.channel, (sums.get(row.channel) ?? 0) + row.subscribers);
        return [...sums].map(([channel, subscribers]) => ({ channel, subscribers }));
      },
    };
  }
}

function coverage(results: { index: number }[], expected: number): DisconnectResult['workers'] {
  const answered = new Set(results.map((r) => r.index));
  const missing: number[] = [];
  for (let i = 0; i < expected; i++) if (!answered.has(i)) missing.push(i);
  return { expected, answered: answered.size, missing };
}
