import { FloodgateError, type ErrorCode } from '../errors.js';
import type { Json, RecoverPosition } from '../protocol/frames.js';
import type { Broker, BrokerStats, Position, Publication, PublishAnswer, PublishOptions, RecoverAnswer } from './broker.js';
import type { PresenceChange, PresenceEntry, PresenceEvent, PresenceSummary } from './presence.js';
import { isBrokerMessage, type PrimaryToWorker, type WireRecoverAnswer, type WorkerToPrimary } from './ipc-messages.js';

/** The slice of `process` this needs: a worker's IPC channel (injectable for tests). */
export interface IpcPort {
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  readonly connected?: boolean;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  kind: RequestKind;
}

type RequestKind = 'publish' | 'recover' | 'presence';

/** What a request that could not be sent, or was not answered, is refused with. */
function failureCode(kind: RequestKind, neverSent: boolean): ErrorCode {
  if (kind === 'presence') return 'FG_ERR_PRESENCE_UNAVAILABLE';
  if (kind === 'recover') return 'FG_ERR_RECOVERY_FAILED';
  // never sent: definitely not published; sent and not answered: the primary may have published it
  return neverSent ? 'FG_ERR_PUBLISH_FAILED' : 'FG_ERR_PUBLISH_UNKNOWN';
}

/**
 * A cluster worker's broker when there is no Redis: the primary process holds one MemoryBroker
 * for all workers (IpcBrokerHost) and this forwards publish/recover/watch over the IPC channel.
 * Offsets and history are therefore shared by every worker; each publication costs one IPC
 * round trip for the publisher and one IPC message per worker that watches the channel.
 */
export class IpcBroker implements Broker {
  readonly kind = 'memory-ipc';
  onPublication: (pub: Publication) => void = () => {};
  onPresenceEvent: (ev: PresenceEvent) => void = () => {};
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private watched = 0;
  private primaryStats: BrokerStats | undefined;
  /** The last publication seen per watched channel: the position to answer when the primary cannot be asked. */
  private readonly seen = new Map<string, Position>();
  private readonly listener = (m: unknown): void => this.onMessage(m);

  constructor(
    private readonly port: IpcPort = process,
    private readonly timeoutMs = 5000,
  ) {}

  async start(): Promise<void> {
    if (typeof this.port.send !== 'function') {
      throw new FloodgateError('FG_ERR_INVALID_CONFIG', 'the memory-ipc broker runs only in a worker started by `floodgate serve --workers`');
    }
    this.port.on('message', this.listener);
  }

  private post(m: WorkerToPrimary): boolean {
    try {
      return this.port.connected !== false && this.port.send!(m);
    } catch {
      return false;
    }
  }

  private request<T>(kind: RequestKind, m: WorkerToPrimary & { id: number }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.post(m)) {
        reject(new FloodgateError(failureCode(kind, true), 'the primary process is gone (IPC channel closed)'));
        return;
      }
      // judged after this loop turn's I/O: a worker starved of CPU runs its timers before it reads
      // the IPC pipe, where the primary's answer may already be waiting
      const timer = setTimeout(() => setImmediate(() => {
        if (this.pending.get(m.id)?.timer !== timer) return; // answered meanwhile
        this.pending.delete(m.id);
        const code = failureCode(kind, false);
        reject(new FloodgateError(code, `the primary process did not answer within ${this.timeoutMs} ms${kind === 'publish' ? '; the publication may have been published' : ''}`));
      }), this.timeoutMs);
      this.pending.set(m.id, { resolve: resolve as (v: unknown) => void, reject, timer, kind });
    });
  }

  private onMessage(raw: unknown): void {
    if (!isBrokerMessage(raw)) return;
    const m = raw as PrimaryToWorker;
    if (m.t === 'message') {
      this.seen.set(m.channel, { epoch: m.epoch, offset: m.offset });
      this.onPublication({ channel: m.channel, epoch: m.epoch, offset: m.offset, frame: Buffer.from(m.frame) });
    } else if (m.t === 'reply') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new FloodgateError(m.code as ErrorCode, m.message));
    } else if (m.t === 'pevent') {
      this.onPresenceEvent({ channel: m.channel, client: m.client, frame: Buffer.from(m.frame) });
    } else if (m.t === 'stats') {
      this.primaryStats = m.stats;
    }
  }

  publish(channel: string, data: Json, options?: PublishOptions): Promise<PublishAnswer> {
    const id = this.nextId++;
    const m: WorkerToPrimary & { id: number } = options === undefined ? { fg: 'broker', t: 'publish', id, channel, data } : { fg: 'broker', t: 'publish', id, channel, data, options };
    return this.request<PublishAnswer>('publish', m);
  }

  presenceJoin(channel: string, entry: PresenceEntry, change: PresenceChange): void {
    // lost only with the primary, and then the primary's entries are gone with it
    this.post({ fg: 'broker', t: 'pjoin', channel, client: entry.client, sub: entry.sub, store: change.store, announce: change.announce });
  }

  presenceLeave(channel: string, entry: PresenceEntry, change: PresenceChange): void {
    this.post({ fg: 'broker', t: 'pleave', channel, client: entry.client, sub: entry.sub, store: change.store, announce: change.announce });
  }

  presence(channel: string, limit: number): Promise<PresenceSummary> {
    return this.request<PresenceSummary>('presence', { fg: 'broker', t: 'presence', id: this.nextId++, channel, limit });
  }

  watch(channel: string): void {
    this.watched++;
    this.post({ fg: 'broker', t: 'watch', channel });
  }

  unwatch(channel: string): void {
    this.watched--;
    this.seen.delete(channel);
    this.post({ fg: 'broker', t: 'unwatch', channel });
  }

  async recover(channel: string, since?: RecoverPosition): Promise<RecoverAnswer> {
    const id = this.nextId++;
    const m: WorkerToPrimary & { id: number } = since ? { fg: 'broker', t: 'recover', id, channel, since } : { fg: 'broker', t: 'recover', id, channel };
    let a: WireRecoverAnswer;
    try {
      a = await this.request<WireRecoverAnswer>('recover', m);
    } catch (err) {
      // a refusal by the primary's broker (maxChannels) is an answer, not an outage
      if (!since || (err instanceof FloodgateError && err.code === 'FG_ERR_TOO_MANY_CHANNELS')) throw err;
      // the channel's current position as far as this worker knows; unknown = '' / 0
      const pos = this.seen.get(channel) ?? { epoch: '', offset: 0 };
      return { ok: false, epoch: pos.epoch, offset: pos.offset, reason: 'unavailable' };
    }
    if (!a.ok) return a;
    const first = since ? since.offset + 1 : a.offset + 1;
    return {
      ok: true, epoch: a.epoch, offset: a.offset,
      publications: a.frames.map((f, i) => ({ channel, epoch: a.epoch, offset: first + i, frame: Buffer.from(f) })),
    };
  }

  stats(): BrokerStats {
    const healthy = this.port.connected !== false;
    const s: BrokerStats = {
      kind: this.kind,
      healthy,
      // channels this worker watches; history is the primary's, as last reported (every 2 s)
      channels: this.watched,
      historyMessages: this.primaryStats?.historyMessages ?? 0,
      historyBytes: this.primaryStats?.historyBytes ?? 0,
    };
    // the budget and the presence entries are the primary's, shared by every worker
    const p = this.primaryStats;
    if (p !== undefined) {
      for (const k of ['historyMemory', 'historyEvictions', 'maxChannels', 'channelsRefused', 'maxIdempotencyKeys', 'idempotencyRefused', 'channelsFreed', 'memoryReleases', 'historyPending', 'presenceEntries'] as const) {
        if (p[k] !== undefined) s[k] = p[k];
      }
    }
    if (!healthy) s.lastError = 'IPC channel to the primary process is closed';
    return s;
  }

  async close(): Promise<void> {
    this.port.off('message', this.listener);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new FloodgateError(failureCode(p.kind, false), 'broker closed before the primary answered'));
      this.pending.delete(id);
    }
  }
}
