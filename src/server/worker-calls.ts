/**
 * The one round trip of `serve --workers N` that reaches every worker: the worker that took a
 * request asks the primary, the primary runs the call on every live worker over the cluster IPC
 * channel and hands all the answers back. GET /stats/machine, POST /api/disconnect and
 * GET /api/channels all travel this way (src/admin/machine-calls.ts names the calls and sums
 * the answers); the primary relays without knowing what a call means.
 */
export type WorkerCallMessage<C = unknown> =
  | { fg: 'call'; t: 'ask'; id: number; call: C; waitMs: number }
  | { fg: 'call'; t: 'run'; cid: string; call: C }
  | { fg: 'call'; t: 'result'; cid: string; index: number; value: unknown }
  | { fg: 'call'; t: 'answer'; id: number; results: WorkerResult[]; expected: number };

export interface WorkerResult {
  index: number;
  value: unknown;
}

/** Every worker's answer; a worker that did not answer in time is absent, and `expected` says how many there are. */
export interface WorkerResults {
  results: WorkerResult[];
  expected: number;
}

export function isWorkerCallMessage(m: unknown): m is WorkerCallMessage {
  return typeof m === 'object' && m !== null && (m as { fg?: unknown }).fg === 'call';
}

/** How long the primary waits for every worker before it answers with what it has, unless the call says. */
export const CALL_WAIT_MS = 2000;

interface Pending {
  asker: number;
  id: number;
  results: WorkerResult[];
  waiting: Set<number>;
  timer: NodeJS.Timeout;
}

/** The primary's side: fans a call out to the live workers and gathers their answers. */
export class WorkerCallHost {
  private readonly pending = new Map<string, Pending>();
  private seq = 0;

  constructor(
    private readonly send: (index: number, m: WorkerCallMessage) => void,
    private readonly live: () => number[],
    private readonly expected: number,
  ) {}

  onMessage(from: number, m: WorkerCallMessage): void {
    if (m.t === 'ask') {
      const cid = `${from}:${m.id}:${++this.seq}`;
      const targets = this.live();
      const wait = Number.isFinite(m.waitMs) && m.waitMs > 0 ? m.waitMs : CALL_WAIT_MS;
      const p: Pending = { asker: from, id: m.id, results: [], waiting: new Set(targets), timer: setTimeout(() => this.finish(cid), wait) };
      p.timer.unref();
      this.pending.set(cid, p);
      for (const i of targets) this.send(i, { fg: 'call', t: 'run', cid, call: m.call });
      if (targets.length === 0) this.finish(cid);
    } else if (m.t === 'result') {
      const p = this.pending.get(m.cid);
      if (!p) return; // too late: already answered
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
    this.send(p.asker, { fg: 'call', t: 'answer', id: p.id, results: p.results, expected: this.expected });
  }
}

/** A worker's side: runs calls for the primary and asks it to run calls machine-wide. */
export class WorkerCallClient<C> {
  private nextId = 0;
  private readonly waiting = new Map<number, (m: WorkerResults) => void>();

  constructor(
    private readonly index: number,
    private readonly run: (call: C) => unknown,
    private readonly send: (m: WorkerCallMessage<C>) => void,
  ) {}

  onMessage(m: WorkerCallMessage): void {
    if (m.t === 'run') {
      this.send({ fg: 'call', t: 'result', cid: m.cid, index: this.index, value: this.run(m.call as C) });
    } else if (m.t === 'answer') {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    }
  }

  /** Rejects when the primary does not answer at all (it waits at most `waitMs` for the workers itself). */
  ask(call: C, waitMs = CALL_WAIT_MS): Promise<WorkerResults> {
    const id = ++this.nextId;
    const timeoutMs = waitMs * 3;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve({ results: m.results, expected: m.expected });
      });
      this.send({ fg: 'call', t: 'ask', id, call, waitMs });
    });
  }
}

/** Which workers answered, naming the missing ones. */
export function coverage(results: readonly { index: number }[], expected: number): { expected: number; answered: number; missing: number[] } {
  const answered = new Set(results.map((r) => r.index));
  const missing: number[] = [];
  for (let i = 0; i < expected; i++) if (!answered.has(i)) missing.push(i);
  return { expected, answered: answered.size, missing };
}
