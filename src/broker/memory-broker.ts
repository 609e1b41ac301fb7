import { randomBytes } from 'node:crypto';
import { FloodgateError } from '../errors.js';
import { encodeMessage } from '../protocol/codec.js';
import type { Json, RecoverPosition } from '../protocol/frames.js';
import { HistoryRing, type HistoryLimits } from '../server/history.js';
import type { Broker, BrokerStats, Publication, PublishAnswer, PublishOptions, RecoverAnswer } from './broker.js';
import { PublishGuard } from './publish-guard.js';

interface ChannelState {
  epoch: string;
  offset: number;
  history: HistoryRing;
  watched: boolean;
  lastActivity: number;
}

/** How long an idle channel with no history and no watchers keeps its epoch and offset. */
const IDLE_CHANNEL_MS = 10 * 60_000;

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/** The embedded default: one process, history in memory, delivery synchronous with publish. */
export class MemoryBroker implements Broker {
  readonly kind = 'memory';
  onPublication: (pub: Publication) => void = () => {};
  private readonly channels = new Map<string, ChannelState>();
  private sweepTimer: NodeJS.Timeout | undefined;

  private readonly guard: PublishGuard;

  /** `idempotencyWindowMs`: how long idempotency keys and publisher sequence numbers are remembered (0 = off). */
  constructor(private readonly limits: HistoryLimits, idempotencyWindowMs = 300_000) {
    this.guard = new PublishGuard(idempotencyWindowMs);
  }

  async start(): Promise<void> {
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), 30_000);
    this.sweepTimer.unref();
  }

  private channel(name: string): ChannelState {
    let ch = this.channels.get(name);
    if (!ch) {
      ch = { epoch: newEpoch(), offset: 0, history: new HistoryRing(this.limits), watched: false, lastActivity: Date.now() };
      this.channels.set(name, ch);
    }
    return ch;
  }

  async publish(channel: string, data: Json, options?: PublishOptions): Promise<PublishAnswer> {
    const now = Date.now();
    // synchronous from check to record: no other publish can come between them
    const verdict = this.guard.check(channel, options, now);
    if (verdict.kind === 'duplicate') return { ...verdict.position, duplicate: true };
    const ch = this.channel(channel);
    const offset = ch.offset + 1;
    const frame = Buffer.from(encodeMessage(channel, ch.epoch, offset, data));
    if (this.limits.maxBytes > 0 && this.limits.maxCount > 0 && frame.length > this.limits.maxBytes) {
      throw new FloodgateError('FG_ERR_PUBLISH_TOO_LARGE', `publication of ${frame.length} B exceeds historyBytes ${this.limits.maxBytes} B`);
    }
    ch.offset = offset;
    ch.lastActivity = now;
    ch.history.push({ offset, frame, at: now });
    this.guard.record(channel, options, { epoch: ch.epoch, offset }, now);
    if (ch.watched) this.onPublication({ channel, epoch: ch.epoch, offset, frame });
    return { epoch: ch.epoch, offset };
  }

  watch(channel: string): void {
    this.channel(channel).watched = true;
  }

  unwatch(channel: string): void {
    const ch = this.channels.get(channel);
    if (ch) {
      ch.watched = false;
      ch.lastActivity = Date.now();
    }
  }

  async recover(channel: string, since?: RecoverPosition): Promise<RecoverAnswer> {
    const ch = this.channel(channel);
    const now = Date.now();
    ch.lastActivity = now;
    const base = { epoch: ch.epoch, offset: ch.offset };
    if (!since) return { ok: true, ...base, publications: [] };
    if (since.epoch !== ch.epoch) return { ok: false, ...base, reason: 'epoch_changed' };
    if (since.offset > ch.offset) return { ok: false, ...base, reason: 'offset_ahead' };
    if (since.offset === ch.offset) return { ok: true, ...base, publications: [] };
    const oldest = ch.history.oldestOffset(now) ?? ch.offset + 1;
    if (since.offset + 1 < oldest) return { ok: false, ...base, reason: 'history_gone' };
    const publications = ch.history.since(since.offset, now).map((e) => ({ channel, epoch: ch.epoch, offset: e.offset, frame: e.frame }));
    return { ok: true, ...base, publications };
  }

  private sweep(now: number): void {
    this.guard.sweep(now);
    for (const [name, ch] of this.channels) {
      ch.history.expire(now);
      if (!ch.watched && ch.history.size === 0 && now - ch.lastActivity > IDLE_CHANNEL_MS) this.channels.delete(name);
    }
  }

  stats(): BrokerStats {
    let historyMessages = 0;
    let historyBytes = 0;
    for (const ch of this.channels.values()) {
      historyMessages += ch.history.size;
      historyBytes += ch.history.bytes;
    }
    return { kind: this.kind, healthy: true, channels: this.channels.size, historyMessages, historyBytes };
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
  }
}
