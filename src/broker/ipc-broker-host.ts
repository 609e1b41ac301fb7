import { FloodgateError } from '../errors.js';
import type { Broker } from './broker.js';
import type { PresenceChange, PresenceEntry } from './presence.js';
import { isBrokerMessage, type PrimaryToWorker, type WorkerToPrimary } from './ipc-messages.js';

/** The slice of a cluster Worker the host needs. */
export interface WorkerPort {
  readonly id: number;
  send(message: unknown): boolean;
  isConnected(): boolean;
}

/**
 * Runs in the primary process of `serve --workers N` without Redis: one broker (a MemoryBroker)
 * serves every worker, so all workers share channels, offsets and history. Each worker's
 * watched channels are tracked here and each publication is sent once to each worker that
 * watches its channel, in offset order (IPC preserves order per worker).
 */
export class IpcBrokerHost {
  private readonly watchers = new Map<string, Set<WorkerPort>>();
  private statsTimer: NodeJS.Timeout | undefined;
  private readonly workers = new Set<WorkerPort>();
  /** Each worker's presence entries, so that a worker that dies leaves its channels (with leave messages). */
  private readonly presentBy = new Map<WorkerPort, Map<string, { channel: string; entry: PresenceEntry; change: PresenceChange }>>();

  constructor(private readonly broker: Broker) {
    broker.onPresenceEvent = (ev) => {
      const set = this.watchers.get(ev.channel);
      if (!set) return;
      const m: PrimaryToWorker = { fg: 'broker', t: 'pevent', channel: ev.channel, client: ev.client, frame: ev.frame.toString() };
      for (const w of set) send(w, m);
    };
    broker.onPublication = (pub) => {
      const set = this.watchers.get(pub.channel);
      if (!set) return;
      const m: PrimaryToWorker = { fg: 'broker', t: 'message', channel: pub.channel, epoch: pub.epoch, offset: pub.offset, frame: pub.frame.toString() };
      for (const w of set) send(w, m);
    };
  }

  async start(): Promise<void> {
    await this.broker.start();
    // workers show the shared history size in their /stats
    this.statsTimer = setInterval(() => {
      const m: PrimaryToWorker = { fg: 'broker', t: 'stats', stats: this.broker.stats() };
      for (const w of this.workers) send(w, m);
    }, 2000);
    this.statsTimer.unref();
  }

  /** Call with each worker's IPC messages. */
  onMessage(worker: WorkerPort, raw: unknown): void {
    if (!isBrokerMessage(raw)) return;
    this.workers.add(worker);
    const m = raw as WorkerToPrimary;
    switch (m.t) {
      case 'watch': {
        let set = this.watchers.get(m.channel);
        if (!set) {
          set = new Set();
          this.watchers.set(m.channel, set);
          this.broker.watch(m.channel);
        }
        set.add(worker);
        return;
      }
      case 'unwatch':
        this.drop(worker, m.channel);
        return;
      case 'publish':
        this.broker.publish(m.channel, m.data, m.options).then(
          (pos) => send(worker, { fg: 'broker', t: 'reply', id: m.id, ok: true, value: pos }),
          (err: unknown) => send(worker, failure(m.id, err, 'FG_ERR_PUBLISH_FAILED')),
        );
        return;
      case 'pjoin': {
        const entry: PresenceEntry = { client: m.client, sub: m.sub };
        const change: PresenceChange = { store: m.store, announce: m.announce };
        let mine = this.presentBy.get(worker);
        if (mine === undefined) {
          mine = new Map();
          this.presentBy.set(worker, mine);
        }
        mine.set(`${m.channel}\n${m.client}`, { channel: m.channel, entry, change });
        this.broker.presenceJoin(m.channel, entry, change);
        return;
      }
      case 'pleave': {
        const mine = this.presentBy.get(worker);
        mine?.delete(`${m.channel}\n${m.client}`);
        if (mine?.size === 0) this.presentBy.delete(worker);
        this.broker.presenceLeave(m.channel, { client: m.client, sub: m.sub }, { store: m.store, announce: m.announce });
        return;
      }
      case 'presence':
        this.broker.presence(m.channel, m.limit).then(
          (value) => send(worker, { fg: 'broker', t: 'reply', id: m.id, ok: true, value }),
          (err: unknown) => send(worker, failure(m.id, err, 'FG_ERR_PRESENCE_UNAVAILABLE')),
        );
        return;
      case 'recover':
        this.broker.recover(m.channel, m.since).then(
          (a) => {
            const value = a.ok ? { ok: true as const, epoch: a.epoch, offset: a.offset, frames: a.publications.map((p) => p.frame.toString()) } : a;
            send(worker, { fg: 'broker', t: 'reply', id: m.id, ok: true, value });
          },
          (err: unknown) => send(worker, failure(m.id, err, 'FG_ERR_RECOVERY_FAILED')),
        );
        return;
    }
  }

  private drop(worker: WorkerPort, channel: string): void {
    const set = this.watchers.get(channel);
    if (!set?.delete(worker)) return;
    if (set.size === 0) {
      this.watchers.delete(channel);
      this.broker.unwatch(channel);
    }
  }

  /** A worker exited: forget what it watched; its connections leave their channels (the other workers' subscribers are told). */
  removeWorker(worker: WorkerPort): void {
    this.workers.delete(worker);
    for (const channel of [...this.watchers.keys()]) this.drop(worker, channel);
    const mine = this.presentBy.get(worker);
    this.presentBy.delete(worker);
    for (const { channel, entry, change } of mine?.values() ?? []) this.broker.presenceLeave(channel, entry, change);
  }

  async close(): Promise<void> {
    clearInterval(this.statsTimer);
    await this.broker.close();
  }
}

function send(w: WorkerPort, m: PrimaryToWorker): void {
  if (!w.isConnected()) return;
  try {
    w.send(m);
  } catch {
    // the worker is exiting; its 'exit' handler removes it
  }
}

function failure(id: number, err: unknown, fallback: 'FG_ERR_PUBLISH_FAILED' | 'FG_ERR_RECOVERY_FAILED' | 'FG_ERR_PRESENCE_UNAVAILABLE'): PrimaryToWorker {
  const code = err instanceof FloodgateError ? err.code : fallback;
  return { fg: 'broker', t: 'reply', id, ok: false, code, message: (err as Error)?.message ?? String(err) };
}
