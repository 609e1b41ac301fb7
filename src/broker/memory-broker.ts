import { randomBytes } from 'node:crypto';
import { FloodgateError } from '../errors.js';
import { encodeMessage } from '../protocol/codec.js';
import type { Json, RecoverPosition } from '../protocol/frames.js';
import { HistoryRing, historyResolver, keepsHistory, type HistoryLimits, type HistoryMeter, type HistoryPolicy } from '../server/history.js';
import type { Broker, BrokerStats, Publication, PublishAnswer, PublishOptions, RecoverAnswer } from './broker.js';
import { PublishGuard } from './publish-guard.js';

interface ChannelState {
  epoch: string;
  offset: number;
  history: HistoryRing;
  /** The channel's bounds (its namespace's, else the top-level ones), fixed when the channel is created. */
  limits: HistoryLimits;
  watched: boolean;
  lastActivity: number;
  /** Created by a subscribe past maxChannels: its recover() is refused and unwatch() drops it. */
  overCap: boolean;
}

/** Process-wide bounds of what clients can make the memory broker hold (0 = unbounded). */
export interface MemoryBudget {
  /** Bytes of history over all channels; past it the least recently used channels lose theirs. */
  historyMemory: number;
  /** Channels held at once; a publish or subscribe that would create one more is refused. */
  maxChannels: number;
}

export const DEFAULT_HISTORY_MEMORY = 64 * 1024 ** 2;
export const DEFAULT_MAX_CHANNELS = 100_000;

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
  /** Channels that hold history, least recently published or recovered first (Map order). */
  private readonly historyLru = new Map<string, ChannelState>();
  private readonly meter: HistoryMeter = { bytes: 0 };
  private readonly budget: MemoryBudget;
  /** Channels whose history the budget evicted; their next recovery says history_gone. */
  historyEvictions = 0;
  /** Publishes and subscribes refused for maxChannels. */
  channelsRefused = 0;
  private sweepTimer: NodeJS.Timeout | undefined;

  private readonly guard: PublishGuard;
  private readonly historyFor: (channel: string) => HistoryLimits;

  /**
   * `history`: the bounds of every channel, or a function of the channel name (namespaces).
   * `idempotencyWindowMs`: how long idempotency keys and publisher sequence numbers are remembered (0 = off).
   */
  constructor(history: HistoryPolicy, idempotencyWindowMs = 300_000, budget: Partial<MemoryBudget> = {}) {
    this.historyFor = historyResolver(history);
    this.guard = new PublishGuard(idempotencyWindowMs);
    this.budget = { historyMemory: budget.historyMemory ?? DEFAULT_HISTORY_MEMORY, maxChannels: budget.maxChannels ?? DEFAULT_MAX_CHANNELS };
  }

  async start(): Promise<void> {
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), 30_000);
    this.sweepTimer.unref();
  }

  /** The channel's state, created on first use; past maxChannels a new one is refused (or, for a watch, marked). */
  private channel(name: string, forWatch = false): ChannelState {
    let ch = this.channels.get(name);
    if (!ch) {
      const overCap = this.budget.maxChannels > 0 && this.channels.size >= this.budget.maxChannels;
      if (overCap && !forWatch) throw this.tooManyChannels();
      const limits = this.historyFor(name);
      ch = { epoch: newEpoch(), offset: 0, history: new HistoryRing(limits, this.meter), limits, watched: false, lastActivity: Date.now(), overCap };
      this.channels.set(name, ch);
    }
    return ch;
  }

  private tooManyChannels(): FloodgateError {
    this.channelsRefused++;
    return new FloodgateError('FG_ERR_TOO_MANY_CHANNELS', `the gateway holds maxChannels ${this.budget.maxChannels} channels; a new one is refused until idle ones are freed`);
  }

  /** The channel was published to or read from: most recently used. Over the budget, the least recent lose their history. */
  private touchHistory(name: string, ch: ChannelState): void {
    if (ch.history.size === 0) {
      this.historyLru.delete(name);
      return;
    }
    this.historyLru.delete(name);
    this.historyLru.set(name, ch);
    const budget = this.budget.historyMemory;
    if (budget === 0) return;
    while (this.meter.bytes > budget && this.historyLru.size > 0) {
      const [oldestName, oldest] = this.historyLru.entries().next().value as [string, ChannelState];
      this.historyLru.delete(oldestName);
      oldest.history.clear();
      this.historyEvictions++;
    }
  }

  async publish(channel: string, data: Json, options?: PublishOptions): Promise<PublishAnswer> {
    const now = Date.now();
    // synchronous from check to record: no other publish can come between them
    const verdict = this.guard.check(channel, options, now);
    if (verdict.kind === 'duplicate') return { ...verdict.position, duplicate: true };
    const ch = this.channel(channel);
    const offset = ch.offset + 1;
    const frame = Buffer.from(encodeMessage(channel, ch.epoch, offset, data));
    if (keepsHistory(ch.limits) && frame.length > ch.limits.maxBytes) {
      throw new FloodgateError('FG_ERR_PUBLISH_TOO_LARGE', `publication of ${frame.length} B exceeds historyBytes ${ch.limits.maxBytes} B of channel ${channel}`);
    }
    ch.offset = offset;
    ch.lastActivity = now;
    ch.history.push({ offset, frame, at: now });
    this.guard.record(channel, options, { epoch: ch.epoch, offset }, now);
    this.touchHistory(channel, ch);
    if (ch.watched) this.onPublication({ channel, epoch: ch.epoch, offset, frame });
    return { epoch: ch.epoch, offset };
  }

  watch(channel: string): void {
    this.channel(channel, true).watched = true;
  }

  unwatch(channel: string): void {
    const ch = this.channels.get(channel);
    if (ch) {
      ch.watched = false;
      ch.lastActivity = Date.now();
      if (ch.overCap && ch.offset === 0) this.channels.delete(channel);
    }
  }

  async recover(channel: string, since?: RecoverPosition): Promise<RecoverAnswer> {
    const ch = this.channel(channel);
    if (ch.overCap && ch.offset === 0) throw this.tooManyChannels();
    const now = Date.now();
    ch.lastActivity = now;
    if (ch.history.size > 0) this.touchHistory(channel, ch);
    const base = { epoch: ch.epoch, offset: ch.offset };
    if (!since) return { ok: true, ...base, publications: [] };
    if (since.epoch !== ch.epoch) return { ok: false, ...base, reason: 'epoch_changed' };
    if (since.offset > ch.offset) return { ok: false, ...base, reason: 'offset_ahead' };
    if (since.offset === ch.offset) return { ok: true, ...base, publications: [] };
    const oldest = ch.history.oldestOffset(now) ?? ch.offset + 1;
    if (since.offset + 1 < oldest) return { ok: false, ...base, reason: keepsHistory(ch.limits) ? 'history_gone' : 'history_off' };
    const publications = ch.history.since(since.offset, now).map((e) => ({ channel, epoch: ch.epoch, offset: e.offset, frame: e.frame }));
    return { ok: true, ...base, publications };
  }

  private sweep(now: number): void {
    this.guard.sweep(now);
    for (const [name, ch] of this.channels) {
      ch.history.expire(now);
      if (ch.history.size === 0) this.historyLru.delete(name);
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
    return {
      kind: this.kind, healthy: true, channels: this.channels.size, historyMessages, historyBytes,
      historyMemory: this.budget.historyMemory, historyEvictions: this.historyEvictions,
      maxChannels: this.budget.maxChannels, channelsRefused: this.channelsRefused,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
  }
}
