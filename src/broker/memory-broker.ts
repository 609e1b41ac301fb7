import { randomBytes } from 'node:crypto';
import { FloodgateError } from '../errors.js';
import { encodeJoinLeave, encodeMessage } from '../protocol/codec.js';
import type { Json, RecoverPosition } from '../protocol/frames.js';
import { heldBytes, HistoryRing, historyResolver, keepsHistory, type HistoryLimits, type HistoryMeter, type HistoryPolicy } from '../server/history.js';
import { releaseMemory } from '../server/memory-release.js';
import type { Broker, BrokerStats, Publication, PublishAnswer, PublishOptions, RecoverAnswer } from './broker.js';
import { DEFAULT_MAX_IDEMPOTENCY_KEYS, PublishGuard } from './publish-guard.js';
import { LocalPresence, summarizePresence, type PresenceChange, type PresenceEntry, type PresenceEvent, type PresenceSummary } from './presence.js';

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
  /** Idempotency keys + publisher seqs held within the window; a publish that would add one more is refused. */
  maxIdempotencyKeys: number;
  /**
   * Once this many history bytes were dropped (evicted, trimmed, expired) since the last time,
   * the memory is handed back now (a full collection, see memory-release.ts) instead of
   * whenever V8 gets to it. 0 = never. @default historyMemory / 8, at most 16 MiB (8 MiB for
   * the 64 MB default); 16 MiB without a historyMemory bound
   */
  releaseAfter: number;
  /** What hands memory back (`reduce`: most of the history just went away); returns false when it cannot. @default releaseMemory */
  release: (reduce?: boolean) => boolean;
}

export const DEFAULT_HISTORY_MEMORY = 64 * 1024 ** 2;
export const DEFAULT_MAX_CHANNELS = 100_000;

export const DEFAULT_RELEASE_AFTER = 16 * 1024 ** 2;

/**
 * Dropped history waits for a collection in V8's heap, so it counts against historyMemory until
 * it is handed back: with releaseAfter at a budget's eighth, what the history occupies (held +
 * waiting) stays within the budget while held history keeps at least seven eighths of it.
 */
export function defaultReleaseAfter(historyMemory: number): number {
  return historyMemory === 0 ? DEFAULT_RELEASE_AFTER : Math.min(DEFAULT_RELEASE_AFTER, Math.max(1, Math.floor(historyMemory / 8)));
}
/** Below this, dropped history is not worth a collection even when it was most of what was held. */
const RELEASE_MIN = 1024 ** 2;

/**
 * How long an unwatched channel whose history is empty keeps its epoch and offset when history
 * has no age bound (historyTtl 0). With an age bound, a channel is freed as soon as its last
 * publication would have expired: until then a recovery must still be told `history_gone` (an
 * evicted channel) rather than `epoch_changed`; after it, nothing is lost by forgetting it.
 */
const IDLE_CHANNEL_MS = 10 * 60_000;
/** The sweep runs every ttl/10, within these bounds, so channels are freed soon after they expire. */
const SWEEP_MIN_MS = 1000;
const SWEEP_MAX_MS = 30_000;

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/** The embedded default: one process, history in memory, delivery synchronous with publish. */
export class MemoryBroker implements Broker {
  readonly kind = 'memory';
  onPublication: (pub: Publication) => void = () => {};
  onPresenceEvent: (ev: PresenceEvent) => void = () => {};
  private readonly present = new LocalPresence();
  private readonly channels = new Map<string, ChannelState>();
  /** Channels that hold history, least recently published or recovered first (Map order). */
  private readonly historyLru = new Map<string, ChannelState>();
  private readonly meter: HistoryMeter = { bytes: 0, dropped: 0 };
  private readonly budget: MemoryBudget;
  /** Channels whose history the budget evicted; their next recovery says history_gone. */
  historyEvictions = 0;
  /** Publishes and subscribes refused for maxChannels. */
  channelsRefused = 0;
  /** Channels whose state was freed (unwatched, history empty, idle past the age bound). */
  channelsFreed = 0;
  /** Times dropped history was handed back to the system (see MemoryBudget.releaseAfter). */
  memoryReleases = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closed = true;
  /** The shortest non-zero historyTtl of the channels created so far: sets the sweep's pace. */
  private shortestTtl = Infinity;

  private readonly guard: PublishGuard;
  private readonly historyFor: (channel: string) => HistoryLimits;

  /**
   * `history`: the bounds of every channel, or a function of the channel name (namespaces).
   * `idempotencyWindowMs`: how long idempotency keys and publisher sequence numbers are remembered (0 = off).
   */
  constructor(history: HistoryPolicy, idempotencyWindowMs = 300_000, budget: Partial<MemoryBudget> = {}) {
    this.historyFor = historyResolver(history);
    const historyMemory = budget.historyMemory ?? DEFAULT_HISTORY_MEMORY;
    this.budget = {
      historyMemory,
      maxChannels: budget.maxChannels ?? DEFAULT_MAX_CHANNELS,
      maxIdempotencyKeys: budget.maxIdempotencyKeys ?? DEFAULT_MAX_IDEMPOTENCY_KEYS,
      releaseAfter: budget.releaseAfter ?? defaultReleaseAfter(historyMemory),
      release: budget.release ?? releaseMemory,
    };
    this.guard = new PublishGuard(idempotencyWindowMs, this.budget.maxIdempotencyKeys);
  }

  async start(): Promise<void> {
    this.closed = false;
    this.scheduleSweep();
  }

  /** Next sweep in a tenth of the shortest age bound of the channels seen (namespaces may differ), 1–30 s. */
  private scheduleSweep(): void {
    if (this.closed) return;
    const ttl = this.shortestTtl;
    const every = ttl === Infinity ? SWEEP_MAX_MS : Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, Math.floor(ttl / 10)));
    this.sweepTimer = setTimeout(() => {
      this.sweep(Date.now());
      this.scheduleSweep();
    }, every);
    this.sweepTimer.unref();
  }

  /**
   * Hands dropped history back once enough of it has piled up (never on every publication), or
   * when most of the history just went away (the channels went idle and expired): the case where
   * nothing else would ever make V8 collect.
   */
  private maybeRelease(sweeping = false): void {
    const after = this.budget.releaseAfter;
    const dropped = this.meter.dropped!;
    if (after === 0 || dropped === 0) return;
    const goingIdle = sweeping && dropped >= RELEASE_MIN && dropped > this.meter.bytes;
    if (dropped < after && !goingIdle) return;
    this.release(goingIdle);
  }

  private release(reduce = false): void {
    this.meter.dropped = 0;
    if (this.budget.release(reduce)) this.memoryReleases++;
  }

  /** The channel's state, created on first use; past maxChannels a new one is refused (or, for a watch, marked). */
  private channel(name: string, forWatch = false): ChannelState {
    let ch = this.channels.get(name);
    if (!ch) {
      const overCap = this.budget.maxChannels > 0 && this.channels.size >= this.budget.maxChannels;
      if (overCap && !forWatch) throw this.tooManyChannels();
      const limits = this.historyFor(name);
      if (limits.ttlMs > 0 && limits.ttlMs < this.shortestTtl) this.shortestTtl = limits.ttlMs;
      ch = { epoch: newEpoch(), offset: 0, history: new HistoryRing(limits, this.meter), limits, watched: false, lastActivity: Date.now(), overCap };
      this.channels.set(name, ch);
    }
    return ch;
  }

  private tooManyChannels(): FloodgateError {
    this.channelsRefused++;
    return new FloodgateError('FG_ERR_TOO_MANY_CHANNELS', `the gateway holds maxChannels ${this.budget.maxChannels} channels; a new one is refused until idle ones are freed`);
  }

  /**
   * History bytes dropped and not yet handed back: still in V8's heap until a full collection
   * finds them dead (memory-release.ts), so they count against historyMemory. Measured with the
   * flood of issue 10 (history strings in the old generation): without counting them the history
   * occupied the 64 MB it held plus up to releaseAfter (16 MiB then) of evicted frames at the
   * peak. Not counted when nothing hands them back (releaseAfter 0), as they would only grow.
   */
  get historyPending(): number {
    return this.budget.releaseAfter === 0 ? 0 : this.meter.dropped!;
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
    while (this.meter.bytes + this.historyPending > budget && this.historyLru.size > 0) {
      // enough waiting to be worth a collection, or evicting more would leave held history under
      // half the budget: hand it back before evicting (a collection per half budget at most)
      const pending = this.historyPending; // 0 when nothing hands it back (releaseAfter 0)
      if (pending > 0 && (pending >= this.budget.releaseAfter || this.meter.bytes <= budget / 2)) {
        this.release();
        continue;
      }
      const [oldestName, oldest] = this.historyLru.entries().next().value as [string, ChannelState];
      this.historyLru.delete(oldestName);
      oldest.history.clear();
      this.historyEvictions++;
    }
    this.maybeRelease();
  }

  async publish(channel: string, data: Json, options?: PublishOptions): Promise<PublishAnswer> {
    const now = Date.now();
    // synchronous from check to record: no other publish can come between them
    const verdict = this.guard.check(channel, options, now);
    if (verdict.kind === 'duplicate') return { ...verdict.position, duplicate: true };
    const ch = this.channel(channel);
    const offset = ch.offset + 1;
    // kept as a string in the history (see history.ts); a Buffer only for delivery, when watched
    const text = encodeMessage(channel, ch.epoch, offset, data);
    const size = heldBytes(text);
    if (keepsHistory(ch.limits) && size > ch.limits.maxBytes) {
      throw new FloodgateError('FG_ERR_PUBLISH_TOO_LARGE', `publication of ${size} B exceeds historyBytes ${ch.limits.maxBytes} B of channel ${channel}`);
    }
    ch.offset = offset;
    ch.lastActivity = now;
    ch.history.push({ offset, frame: text, size, at: now });
    this.guard.record(channel, options, { epoch: ch.epoch, offset }, now);
    this.touchHistory(channel, ch);
    if (ch.watched) this.onPublication({ channel, epoch: ch.epoch, offset, frame: Buffer.from(text) });
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
    const publications = ch.history.since(since.offset, now).map((e) => ({ channel, epoch: ch.epoch, offset: e.offset, frame: Buffer.from(e.frame) }));
    return { ok: true, ...base, publications };
  }

  presenceJoin(channel: string, entry: PresenceEntry, change: PresenceChange): void {
    if (change.store) this.present.add(channel, entry);
    if (change.announce) this.announce('join', channel, entry);
  }

  presenceLeave(channel: string, entry: PresenceEntry, change: PresenceChange): void {
    if (change.store) this.present.remove(channel, entry.client);
    if (change.announce) this.announce('leave', channel, entry);
  }

  private announce(kind: 'join' | 'leave', channel: string, entry: PresenceEntry): void {
    if (!this.channels.get(channel)?.watched) return; // nobody left to tell
    const frame = Buffer.from(encodeJoinLeave(kind, channel, entry.client, entry.sub === '' ? undefined : entry.sub));
    this.onPresenceEvent({ channel, client: entry.client, frame });
  }

  async presence(channel: string, limit: number): Promise<PresenceSummary> {
    return summarizePresence(this.present.subs(channel), limit);
  }

  /** Entries held over all channels (tests check that nothing is left behind). */
  get presenceEntries(): number {
    return this.present.entryCount;
  }

  /**
   * Expires history, and frees the state of every channel nobody watches whose history is empty
   * and whose last use is older than the age bound (its epoch is then forgotten: a later
   * recovery with the old epoch answers `epoch_changed`, which is as true as `history_gone`).
   * Runs on a timer; public so tests can drive it with a clock of their own.
   */
  sweep(now = Date.now()): void {
    this.guard.sweep(now);
    for (const [name, ch] of this.channels) {
      // unwatched with empty history: kept while a recovery could still be told history_gone
      const idle = ch.limits.ttlMs === 0 ? IDLE_CHANNEL_MS : ch.limits.ttlMs;
      ch.history.expire(now);
      if (ch.history.size === 0) this.historyLru.delete(name);
      if (!ch.watched && ch.history.size === 0 && now - ch.lastActivity >= idle) {
        this.channels.delete(name);
        this.channelsFreed++;
      }
    }
    this.maybeRelease(true);
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
      maxIdempotencyKeys: this.budget.maxIdempotencyKeys, idempotencyRefused: this.guard.refused,
      channelsFreed: this.channelsFreed, memoryReleases: this.memoryReleases, historyPending: this.historyPending,
      presenceEntries: this.present.entryCount,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.sweepTimer);
  }
}
