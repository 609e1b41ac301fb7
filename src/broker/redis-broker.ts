import { Redis, type RedisOptions } from 'ioredis';
import { FloodgateError } from '../errors.js';
import type { Json, RecoverPosition, RecoveryFailure } from '../protocol/frames.js';
import { historyResolver, keepsHistory, type HistoryLimits, type HistoryPolicy } from '../server/history.js';
import type { Broker, BrokerStats, Publication, PublishAnswer, PublishOptions, RecoverAnswer } from './broker.js';
import { afterIoTimeout } from './after-io-timeout.js';
import { DEFAULT_MAX_IDEMPOTENCY_KEYS, outOfOrder, tooManyIdempotencyKeys } from './publish-guard.js';
import { DEFAULT_HISTORY_MEMORY, DEFAULT_MAX_CHANNELS, newEpoch } from './memory-broker.js';
import { PUBLISH_SCRIPT, READ_FROM_SCRIPT, READ_SCRIPT, TOUCH_EMPTY_SCRIPT } from './redis-scripts.js';
import type { PresenceChange, PresenceEntry, PresenceEvent, PresenceSummary } from './presence.js';
import { RedisPresence } from './redis-presence.js';

/** The part of a pino logger the broker uses. */
export interface BrokerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RedisBrokerOptions {
  /** `redis://[user:pass@]host:port[/db]` (or `rediss://`). */
  url: string;
  /** History bounds of every channel, or a function of the channel name (namespaces). */
  limits: HistoryPolicy;
  log?: BrokerLog;
  /** Key and pub/sub prefix, so several gateways clusters can share one Redis. */
  prefix?: string;
  /** A command that has not answered by then fails (publish → FG_ERR_PUBLISH_UNKNOWN, recovery → `unavailable`). @default 3000 */
  commandTimeoutMs?: number;
  /**
   * Redis counts as down (hung: SIGSTOP, a partition) when no ping has been answered for this
   * long while the connection is open. A slow Redis answers late but answers: it stays up.
   * @default 5000
   */
  downAfterMs?: number;
  /** How long the channel's epoch and offset outlive its last publish or subscribe. */
  metaTtlMs?: number;
  /**
   * How long the epoch of a channel nothing was published to (created by a subscribe) outlives
   * its last subscribe, unless a node watches it (each node keeps those alive every third of
   * it). Bounds what subscribes to ever new channel names leave in Redis. 0 = like metaTtlMs.
   * @default 600000
   */
  emptyChannelTtlMs?: number;
  /** How long idempotency keys and publisher sequence numbers are remembered (0 = off). @default 300000 */
  idempotencyWindowMs?: number;
  /**
   * History bytes kept in Redis over all channels; past it the least recently used (published
   * to, subscribed or recovered) channels' streams are deleted (their recovery answers `history_gone`). 0 = none. @default 64 MiB
   */
  historyMemory?: number;
  /** Channels holding history in Redis at once; a publish that would add one more is refused. 0 = none. @default 100000 */
  maxChannels?: number;
  /**
   * Idempotency keys and publisher seqs held in Redis within the window, over all channels; a
   * publish that would add one more is refused with FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS. 0 = none.
   * @default 1000000
   */
  maxIdempotencyKeys?: number;
  /** How long a presence entry lives without a refresh; each node refreshes its own every third of it. @default 60000 */
  presenceTtlMs?: number;
}

/** Why this node could not give its subscribers a channel's publications without a hole. */
export type GapReason = Extract<RecoveryFailure, 'epoch_changed' | 'history_gone'>;

interface Watched {
  name: string;
  pubsub: string;
  /** The channel's join/leave pub/sub channel, when join/leave is on for it. */
  events: string | undefined;
  /** Subscribed on Redis and the starting position known; recover() waits for it. */
  ready: Promise<void>;
  epoch: string | undefined;
  /** The last offset handed to onPublication. */
  last: number;
  /** A catch-up read is running; live publications wait in `queue`. */
  busy: boolean;
  again: boolean;
  running: Promise<void> | undefined;
  queue: Publication[];
}

export interface RedisBrokerStats extends BrokerStats {
  redis: {
    target: string; gapsFilled: number; gapsUnfillable: number; outages: number;
    /** Recoveries asked for, and the Redis reads that served them (batched per channel). */
    recoveries: number; recoveryReads: number;
    /** Presence reads sent to Redis (concurrent asks for one channel share one), and presence commands that failed. */
    presenceReads: number;
    presenceFailures: number;
  };
}

interface RecoverWaiter {
  since: RecoverPosition | undefined;
  resolve(a: RecoverAnswer): void;
  reject(e: Error): void;
}

type ReadReply = [Buffer, number, Buffer, ...Buffer[]];

interface ScriptCommands {
  fgPublish(meta: string, stream: string, pubsub: string, idem: string, seq: string, lru: string, sizes: string, total: string, exp: string, guard: string, ...args: (string | number)[]): Promise<[string, number, string, number, number]>;
  fgReadBuffer(meta: string, stream: string, ...args: (string | number)[]): Promise<ReadReply>;
  fgReadFromBuffer(meta: string, stream: string, lru: string, ...args: (string | number)[]): Promise<ReadReply>;
}

const DEFAULT_META_TTL_MS = 24 * 3600_000;
/** Like the memory broker's idle channels: an unwatched channel that never had a publication goes after 10 min. */
const DEFAULT_EMPTY_CHANNEL_TTL_MS = 10 * 60_000;
/** Rough size of a `message` frame around channel and data, for the byte bound. */
const FRAME_OVERHEAD = 64;

const silentLog: BrokerLog = { info() {}, warn() {}, error() {} };

/**
 * Scale-out broker: several gateway processes or machines share channels through one Redis.
 * Offsets are assigned and history kept by Lua scripts (one atomic step per publication), live
 * fan-out goes over Redis pub/sub, and each node checks that the offsets it receives are dense:
 * a hole (pub/sub messages lost while the subscriber connection was down) is filled from the
 * stream, or reported through `onGap` when the stream no longer has it.
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis';
  onPublication: (pub: Publication) => void = () => {};
  /** Called when a watched channel has a hole this node cannot fill (its sessions missed messages). */
  onGap: (channel: string, reason: GapReason) => void = () => {};
  onPresenceEvent: (ev: PresenceEvent) => void = () => {};
  private readonly presenceStore: RedisPresence;
  private readonly byEvents = new Map<string, Watched>();
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly scripts: ScriptCommands;
  private readonly watched = new Map<string, Watched>();
  private readonly byPubsub = new Map<string, Watched>();
  /** Channels whose catch-up failed (Redis went away again, or the command connection was not back yet). */
  private readonly stale = new Set<Watched>();
  private readonly prefix: string;
  private readonly historyFor: (channel: string) => HistoryLimits;
  private readonly metaTtlMs: number;
  private readonly emptyChannelTtlMs: number;
  private touchTimer: NodeJS.Timeout | undefined;
  private readonly idempotencyWindowMs: number;
  private readonly log: BrokerLog;
  private readonly target: string;
  private lastError: string | undefined;
  private wasHealthy = false;
  /** performance.now() of the first ping in a row that has not been answered; 0 = none. */
  private unansweredSince = 0;
  private pingInFlight = false;
  /**
   * performance.now() of the last bytes read from Redis on the command connection. A reply that
   * sat in the socket while this process was starved of CPU is read after the timers ran, so the
   * ping's timeout may have come due first; the bytes still prove Redis answered.
   */
  private lastReplyAt = 0;
  private readonly replyClock = (): number => this.lastReplyAt;
  private readonly downAfterMs: number;
  /** Deadline of each command, judged after the loop has read its sockets (after-io-timeout.ts). */
  private readonly commandTimeoutMs: number;
  private pingTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Recoveries waiting for the next batch, per channel (see flushRecoveries). */
  private recoverBatch = new Map<string, RecoverWaiter[]>();
  private recoverFlushScheduled = false;
  private readonly counters = { gapsFilled: 0, gapsUnfillable: 0, outages: 0, recoveries: 0, recoveryReads: 0 };
  private readonly historyMemory: number;
  private readonly maxChannels: number;
  private readonly maxIdempotencyKeys: number;
  /** The budget's shared keys (redis-scripts.ts). */
  private readonly budgetKeys: { lru: string; bytes: string; total: string; exp: string; guard: string };
  /** History bytes over all channels as Redis reported them with this node's last publish. */
  private historyTotal = 0;
  /** Streams this node's publishes deleted for the budget, and publishes refused for maxChannels. */
  private historyEvictions = 0;
  private channelsRefused = 0;
  /** Publishes refused for maxIdempotencyKeys. */
  private idempotencyRefused = 0;

  constructor(options: RedisBrokerOptions) {
    this.historyFor = historyResolver(options.limits);
    this.prefix = options.prefix ?? 'fg:';
    this.metaTtlMs = options.metaTtlMs ?? DEFAULT_META_TTL_MS;
    this.emptyChannelTtlMs = options.emptyChannelTtlMs ?? DEFAULT_EMPTY_CHANNEL_TTL_MS;
    this.idempotencyWindowMs = options.idempotencyWindowMs ?? 300_000;
    this.historyMemory = options.historyMemory ?? DEFAULT_HISTORY_MEMORY;
    this.maxChannels = options.maxChannels ?? DEFAULT_MAX_CHANNELS;
    this.maxIdempotencyKeys = options.maxIdempotencyKeys ?? DEFAULT_MAX_IDEMPOTENCY_KEYS;
    const b = `${this.prefix}budget:`;
    this.budgetKeys = { lru: `${b}lru`, bytes: `${b}bytes`, total: `${b}total`, exp: `${b}exp`, guard: `${b}guard` };
    this.downAfterMs = options.downAfterMs ?? 5000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 3000;
    this.log = options.log ?? silentLog;
    const url = new URL(options.url);
    this.target = `${url.hostname}:${url.port || 6379}`;
    const common: RedisOptions = {
      // a command issued while Redis is unreachable fails at once instead of waiting in a queue:
      // a publish must either be stored and numbered or be refused, never linger
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // no ioredis commandTimeout: it fires before a starved process reads the answer (afterIoTimeout)
      connectTimeout: 2000,
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
      lazyConnect: true,
    };
    // a publish in flight when the connection drops is answered FG_ERR_PUBLISH_UNKNOWN; ioredis
    // must not run it again on the next connection behind that answer's back
    this.cmd = new Redis(options.url, { ...common, connectionName: 'floodgate-cmd', autoResendUnfulfilledCommands: false });
    // subscriptions are restored by onSubscriberReady(), which also fills the hole they left
    this.sub = new Redis(options.url, { ...common, connectionName: 'floodgate-sub', autoResubscribe: false });
    this.cmd.on('connect', () => {
      this.lastReplyAt = performance.now();
      this.cmd.stream.on('data', () => {
        this.lastReplyAt = performance.now();
      });
    });
    this.cmd.defineCommand('fgPublish', { numberOfKeys: 10, lua: PUBLISH_SCRIPT });
    this.cmd.defineCommand('fgRead', { numberOfKeys: 2, lua: READ_SCRIPT });
    this.cmd.defineCommand('fgReadFrom', { numberOfKeys: 3, lua: READ_FROM_SCRIPT });
    this.cmd.defineCommand('fgTouchEmpty', { numberOfKeys: 1, lua: TOUCH_EMPTY_SCRIPT });
    this.scripts = this.cmd as unknown as ScriptCommands;
    this.presenceStore = new RedisPresence(this.cmd, {
      prefix: this.prefix,
      ttlMs: options.presenceTtlMs ?? 60_000,
      failed: (what, err) => this.noteError(`${what}: ${err.message}`),
    });

    for (const [role, conn] of [['commands', this.cmd], ['subscriber', this.sub]] as const) {
      conn.on('error', (err: Error) => this.noteError(`${role} connection: ${err.message}`));
      conn.on('close', () => {
        if (!this.closed) this.lastError ??= `${role} connection to ${this.target} closed`;
        this.checkHealth();
      });
      conn.on('ready', () => {
        this.checkHealth();
        this.retryStale();
      });
    }
    this.sub.on('ready', () => this.onSubscriberReady());
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel, message));
  }

  async start(): Promise<void> {
    // Start even when Redis is down: the gateway reports itself unhealthy (/healthz 503) and
    // connects as soon as Redis is back, rather than crash-looping.
    const connect = (conn: Redis): Promise<void> => conn.connect().catch((err: Error) => this.noteError(err.message));
    await Promise.all([connect(this.cmd), connect(this.sub)]);
    this.checkHealth();
    if (!this.healthy) this.log.error({ redis: this.target, err: this.lastError }, 'redis broker: Redis is unreachable at start; retrying');
    // a Redis that hangs (SIGSTOP, network partition) keeps its socket open: probe it
    this.pingTimer = setInterval(() => this.probe(), 1000);
    this.pingTimer.unref();
    if (this.emptyChannelTtlMs > 0) {
      this.touchTimer = setInterval(() => this.touchEmpty(), Math.max(100, Math.floor(this.emptyChannelTtlMs / 3)));
      this.touchTimer.unref();
    }
    this.presenceStore.start();
  }

  /** Keeps the epoch of each watched channel nothing was published to yet alive (one pipeline). */
  private touchEmpty(): void {
    if (this.cmd.status !== 'ready') return;
    const pipeline = this.cmd.pipeline() as unknown as { fgTouchEmpty(meta: string, ttl: number): void; exec(): Promise<unknown> };
    let n = 0;
    for (const w of this.watched.values()) {
      if (w.epoch === undefined || w.last !== 0) continue;
      pipeline.fgTouchEmpty(this.keys(w.name).meta, this.emptyChannelTtlMs);
      n++;
    }
    if (n > 0) pipeline.exec().catch((err: Error) => this.noteError(`keep empty channels: ${err.message}`));
  }

  private get healthy(): boolean {
    return !this.closed && this.cmd.status === 'ready' && this.sub.status === 'ready' && !this.hung;
  }

  /**
   * Down, not slow: the connection is open but no ping has been answered for downAfterMs. One
   * late answer (a busy Redis, or this process starved of CPU) is not an outage.
   */
  private get hung(): boolean {
    return this.unansweredSince > 0 && performance.now() - Math.max(this.unansweredSince, this.lastReplyAt) > this.downAfterMs;
  }

  private probe(): void {
    if (this.cmd.status !== 'ready') {
      this.unansweredSince = 0;
      this.pingInFlight = false;
      return;
    }
    if (this.pingInFlight) {
      // Judge after this loop turn's I/O: when this process itself was stalled, the answer may
      // be waiting in the socket, and timers run before I/O.
      setImmediate(() => {
        if (this.hung && this.wasHealthy) this.noteError(`no answer to PING for more than ${this.downAfterMs} ms`);
      });
      return;
    }
    this.pingInFlight = true;
    const sentAt = performance.now();
    if (this.unansweredSince === 0) this.unansweredSince = sentAt;
    afterIoTimeout(this.cmd.ping(), this.commandTimeoutMs, 'PING', this.replyClock).then(
      () => {
        this.pingInFlight = false;
        this.unansweredSince = 0;
        this.checkHealth();
        this.retryStale();
      },
      () => {
        // a ping that timed out is not an outage by itself: unansweredSince keeps counting
        this.pingInFlight = false;
        setImmediate(() => {
          if (this.hung) this.noteError(`no answer to PING for more than ${this.downAfterMs} ms`);
        });
      },
    );
  }

  private noteError(message: string): void {
    this.lastError = message;
    this.checkHealth();
  }

  /** Logs once per change between healthy and unhealthy, not once per retry. */
  private checkHealth(): void {
    const now = this.healthy;
    if (now === this.wasHealthy || this.closed) return;
    this.wasHealthy = now;
    if (now) {
      this.log.info({ redis: this.target }, 'redis broker: connected');
      this.lastError = undefined;
    }
    else {
      this.counters.outages++;
      this.log.error(
        { redis: this.target, err: this.lastError },
        'redis broker: Redis unreachable (connection down, or no answer to PING for downAfterMs); publishes fail with FG_ERR_PUBLISH_FAILED and recovery answers `unavailable` until it is back',
      );
    }
  }

  /**
   * How long the channel's epoch and offset outlive its last publish or subscribe: never while
   * its history has no age bound (an old position must keep matching its history), else at
   * least as long as the history lives.
   */
  private metaTtlFor(limits: HistoryLimits): number {
    return limits.ttlMs === 0 ? 0 : Math.max(this.metaTtlMs, limits.ttlMs);
  }

  /** The expiry of a channel's hash while nothing was published to it (0 = no expiry). */
  private emptyTtlFor(limits: HistoryLimits): number {
    return this.emptyChannelTtlMs > 0 ? this.emptyChannelTtlMs : this.metaTtlFor(limits);
  }

  private keys(channel: string): { meta: string; stream: string; pubsub: string; idem: string; seq: string } {
    const base = `${this.prefix}{${channel}}`;
    return { meta: `${base}:m`, stream: `${base}:s`, pubsub: `${base}:p`, idem: `${base}:i:`, seq: `${base}:q:` };
  }

  async publish(channel: string, data: Json, options?: PublishOptions): Promise<PublishAnswer> {
    const text = JSON.stringify(data);
    const channelJson = JSON.stringify(channel);
    const size = Buffer.byteLength(text) + Buffer.byteLength(channelJson) + FRAME_OVERHEAD;
    const limits = this.historyFor(channel);
    const { maxCount, maxBytes, ttlMs } = limits;
    const keeps = keepsHistory(limits);
    if (keeps && size > maxBytes) {
      throw new FloodgateError('FG_ERR_PUBLISH_TOO_LARGE', `publication of about ${size} B exceeds historyBytes ${maxBytes} B of channel ${channel}`);
    }
    // only the command connection is needed to publish; a subscriber outage is repaired on reconnect
    if (this.closed || this.cmd.status !== 'ready' || this.hung) {
      throw new FloodgateError('FG_ERR_PUBLISH_FAILED', `redis broker unavailable (${this.lastError ?? 'not connected'}); publication not accepted`);
    }
    // the byte bound, approximately: as many entries of this size as fit in historyBytes
    const maxlen = keeps ? Math.max(1, Math.min(maxCount, Math.floor(maxBytes / size))) : 0;
    const k = this.keys(channel);
    const key = options?.idempotencyKey;
    const publisher = options?.seq !== undefined ? options.publisher : undefined;
    const bk = this.budgetKeys;
    try {
      const [epoch, offset, status, total, evicted] = await afterIoTimeout(this.scripts.fgPublish(
        k.meta, k.stream, k.pubsub, `${k.idem}${key ?? ''}`, `${k.seq}${publisher ?? ''}`,
        bk.lru, bk.bytes, bk.total, bk.exp, bk.guard,
        channelJson, text, newEpoch(), maxlen, ttlMs, Date.now(), this.metaTtlFor(limits),
        this.idempotencyWindowMs, key === undefined ? '' : '1', publisher === undefined ? '' : options!.seq!,
        this.historyMemory, this.maxChannels, channel, this.prefix, this.maxIdempotencyKeys, this.metaTtlMs,
      ), this.commandTimeoutMs, 'publish', this.replyClock);
      if (status === 'stale') throw outOfOrder(channel, publisher!, options!.seq!, Number(offset));
      if (status === 'too_many') {
        this.channelsRefused++;
        throw new FloodgateError('FG_ERR_TOO_MANY_CHANNELS', `Redis holds history for maxChannels ${this.maxChannels} channels; a new one is refused until idle ones expire`);
      }
      if (status === 'guard_full') {
        this.idempotencyRefused++;
        throw tooManyIdempotencyKeys(this.maxIdempotencyKeys, this.idempotencyWindowMs, 'Redis');
      }
      if (status === 'ok') {
        this.historyTotal = Number(total);
        this.historyEvictions += Number(evicted);
      }
      return status === 'dup' ? { epoch, offset: Number(offset), duplicate: true } : { epoch, offset: Number(offset) };
    } catch (err) {
      if (err instanceof FloodgateError) throw err;
      const msg = (err as Error).message;
      this.noteError(`publish: ${msg}`);
      throw new FloodgateError(...publishFailure(err as Error));
    }
  }

  watch(channel: string, presenceEvents = false): void {
    if (this.watched.has(channel)) return;
    const k = this.keys(channel);
    const events = presenceEvents ? this.presenceStore.keys(channel).e : undefined;
    const w: Watched = { name: channel, pubsub: k.pubsub, events, ready: Promise.resolve(), epoch: undefined, last: 0, busy: false, again: false, running: undefined, queue: [] };
    this.watched.set(channel, w);
    this.byPubsub.set(k.pubsub, w);
    if (events !== undefined) this.byEvents.set(events, w);
    w.ready = this.attach(w);
    w.ready.catch(() => {}); // failures surface through recover() and the reconnect path
  }

  /** Subscribe, then learn the starting position; publications arriving meanwhile are queued. */
  private async attach(w: Watched): Promise<void> {
    w.busy = true;
    try {
      await this.sub.subscribe(...subscriptionsOf(w));
    } catch (err) {
      w.busy = false;
      throw err;
    }
    w.busy = false;
    await this.catchUpOrRetry(w);
  }

  unwatch(channel: string): void {
    const w = this.watched.get(channel);
    if (!w) return;
    this.watched.delete(channel);
    this.byPubsub.delete(w.pubsub);
    if (w.events !== undefined) this.byEvents.delete(w.events);
    this.stale.delete(w);
    if (this.sub.status === 'ready') this.sub.unsubscribe(...subscriptionsOf(w)).catch(() => {});
  }

  private onMessage(channelBuf: Buffer, message: Buffer): void {
    const name = channelBuf.toString();
    const w = this.byPubsub.get(name);
    if (!w) {
      const e = this.byEvents.get(name);
      if (e !== undefined) this.onEventMessage(e.name, message);
      return;
    }
    const sp1 = message.indexOf(32);
    const sp2 = message.indexOf(32, sp1 + 1);
    if (sp1 < 0 || sp2 < 0) return;
    const pub: Publication = {
      channel: w.name,
      epoch: message.toString('latin1', 0, sp1),
      offset: Number(message.toString('latin1', sp1 + 1, sp2)),
      frame: message.subarray(sp2 + 1),
    };
    if (w.busy) {
      w.queue.push(pub);
      return;
    }
    if (pub.epoch === w.epoch) {
      if (pub.offset <= w.last) return;
      if (pub.offset === w.last + 1) {
        w.last = pub.offset;
        this.onPublication(pub);
        return;
      }
    }
    // a hole or a new epoch: read what is missing from the stream first
    w.queue.push(pub);
    this.catchUpOrRetry(w);
  }

  /**
   * Catches up, and when that fails remembers the channel so that it is caught up as soon as
   * Redis answers again: otherwise a hole left by an outage would go unnoticed until the
   * channel's next publication, and its subscribers would not be told they missed messages.
   */
  private catchUpOrRetry(w: Watched): Promise<void> {
    const running = this.catchUp(w);
    running.catch(() => {
      if (this.watched.get(w.name) === w) this.stale.add(w);
    });
    return running;
  }

  private retryStale(): void {
    if (!this.healthy || this.stale.size === 0) return;
    for (const w of [...this.stale]) {
      this.stale.delete(w);
      if (this.watched.get(w.name) !== w) continue;
      w.ready = this.catchUpOrRetry(w);
      w.ready.catch(() => {});
    }
  }

  /**
   * Brings a watched channel up to the latest offset in Redis: the first time it only learns
   * the position; later it reads every publication after the last one delivered and hands them
   * on in order, then drains the live publications that arrived meanwhile.
   */
  private catchUp(w: Watched): Promise<void> {
    if (w.running) {
      w.again = true;
      return w.running;
    }
    w.running = this.runCatchUp(w).finally(() => {
      w.running = undefined;
    });
    return w.running;
  }

  private async runCatchUp(w: Watched): Promise<void> {
    w.busy = true;
    try {
      do {
        w.again = false;
        if (w.epoch === undefined) {
          const r = await this.read(w.name);
          w.epoch = r.epoch;
          w.last = r.offset;
        } else {
          let r = await this.read(w.name, { epoch: w.epoch, offset: w.last });
          if (!r.ok && r.reason === 'epoch_changed') {
            this.reportGap(w, 'epoch_changed', `epoch ${w.epoch} → ${r.epoch}`);
            w.epoch = r.epoch;
            w.last = 0;
            r = await this.read(w.name, { epoch: r.epoch, offset: 0 });
          }
          if (r.ok) {
            if (r.publications.length > 0) this.counters.gapsFilled++;
            for (const pub of r.publications) this.deliverInOrder(w, pub);
          } else if (r.reason === 'history_gone' || r.reason === 'offset_ahead') {
            this.reportGap(w, 'history_gone', `offsets ${w.last + 1}…${r.offset} are no longer in the stream`);
            w.epoch = r.epoch;
            w.last = r.offset;
          }
        }
        const queued = w.queue;
        w.queue = [];
        for (const pub of queued) {
          if (pub.epoch !== w.epoch || pub.offset > w.last + 1) {
            // still a hole: read again, keep this one and the rest for after
            w.queue = queued.slice(queued.indexOf(pub));
            w.again = true;
            break;
          }
          this.deliverInOrder(w, pub);
        }
      } while (w.again && this.watched.get(w.name) === w);
    } finally {
      w.busy = false;
    }
  }

  private deliverInOrder(w: Watched, pub: Publication): void {
    if (pub.epoch !== w.epoch || pub.offset !== w.last + 1) return;
    w.last = pub.offset;
    this.onPublication(pub);
  }

  private reportGap(w: Watched, reason: GapReason, detail: string): void {
    this.counters.gapsUnfillable++;
    this.log.warn({ channel: w.name, reason, detail }, 'redis broker: subscribers of this channel missed publications that cannot be recovered');
    this.onGap(w.name, reason);
  }

  /** After (re)connecting the subscriber: subscribe again to every watched channel and fill the hole. */
  private onSubscriberReady(): void {
    if (this.watched.size === 0) return;
    const all = [...this.watched.values()];
    const subscribed = this.sub.subscribe(...all.flatMap(subscriptionsOf));
    subscribed.catch((err: Error) => this.noteError(`resubscribe: ${err.message}`));
    for (const w of all) {
      w.ready = subscribed.then(() => (this.watched.get(w.name) === w ? this.catchUpOrRetry(w) : undefined));
      w.ready.catch(() => {
        if (this.watched.get(w.name) === w) this.stale.add(w);
      });
    }
  }

  private async read(channel: string, since?: RecoverPosition): Promise<RecoverAnswer> {
    const k = this.keys(channel);
    const limits = this.historyFor(channel);
    const reply = await afterIoTimeout(this.scripts.fgReadBuffer(
      k.meta, k.stream, newEpoch(), since?.epoch ?? '', since?.offset ?? 0, Date.now(), limits.ttlMs, this.metaTtlFor(limits), this.emptyTtlFor(limits),
    ), this.commandTimeoutMs, 'history read', this.replyClock);
    const epoch = reply[0].toString();
    const offset = Number(reply[1]);
    const status = reply[2].toString();
    if (status !== 'ok') return { ok: false, epoch, offset, reason: status as RecoveryFailure };
    const publications: Publication[] = [];
    const first = since ? since.offset + 1 : offset + 1;
    for (let i = 3; i < reply.length; i++) publications.push({ channel, epoch, offset: first + i - 3, frame: reply[i] as Buffer });
    return { ok: true, epoch, offset, publications };
  }

  async recover(channel: string, since?: RecoverPosition): Promise<RecoverAnswer> {
    this.counters.recoveries++;
    const w = this.watched.get(channel);
    try {
      // subscribed before reading: a publication after the read is then surely received live
      await w?.ready;
      return await new Promise<RecoverAnswer>((resolve, reject) => {
        let list = this.recoverBatch.get(channel);
        if (list === undefined) {
          list = [];
          this.recoverBatch.set(channel, list);
        }
        list.push({ since, resolve, reject });
        if (!this.recoverFlushScheduled) {
          this.recoverFlushScheduled = true;
          setImmediate(() => this.flushRecoveries());
        }
      });
    } catch (err) {
      this.noteError(`recover: ${(err as Error).message}`);
      this.log.warn({ channel, err: (err as Error).message }, 'redis broker: recovery read failed; answered recovered:false, unavailable');
      if (!since) throw new FloodgateError('FG_ERR_RECOVERY_FAILED', `redis broker unavailable: ${(err as Error).message ?? err}`);
      // the channel's position as this node last saw it: the session goes on from there, live
      // publications follow it without a hole; unknown = '' / 0 (take the next message as is)
      const known = this.watched.get(channel);
      return known?.epoch !== undefined
        ? { ok: false, epoch: known.epoch, offset: known.last, reason: 'unavailable' }
        : { ok: false, epoch: '', offset: 0, reason: 'unavailable' };
    }
  }

  /**
   * A failover burst brings thousands of recoveries within milliseconds, mostly for the same few
   * channels. They are gathered for one loop turn and served with one read per channel (from the
   * oldest position asked for), all sent in one pipeline: a burst costs Redis a handful of
   * commands instead of thousands, and does not time out as if Redis were down.
   */
  private flushRecoveries(): void {
    this.recoverFlushScheduled = false;
    const batch = this.recoverBatch;
    this.recoverBatch = new Map();
    if (batch.size === 0) return;
    const pipeline = this.cmd.pipeline();
    const entries = [...batch];
    for (const [channel, waiters] of entries) {
      let from = Infinity;
      for (const wt of waiters) if (wt.since !== undefined) from = Math.min(from, wt.since.offset + 1);
      const k = this.keys(channel);
      const limits = this.historyFor(channel);
      (pipeline as unknown as { fgReadFromBuffer(...a: (string | number)[]): void }).fgReadFromBuffer(
        k.meta, k.stream, this.budgetKeys.lru, newEpoch(), from === Infinity ? -1 : from, Date.now(), limits.ttlMs, this.metaTtlFor(limits),
        channel, this.historyMemory > 0 || this.maxChannels > 0 ? '1' : '', this.emptyTtlFor(limits),
      );
    }
    this.counters.recoveryReads += entries.length;
    afterIoTimeout(pipeline.exec(), this.commandTimeoutMs, 'recovery read', this.replyClock).then(
      (results) => {
        entries.forEach(([channel, waiters], i) => {
          const [err, reply] = results?.[i] ?? [new Error('no reply'), undefined];
          if (err) for (const wt of waiters) wt.reject(err);
          else for (const wt of waiters) wt.resolve(answerFrom(channel, reply as ReadReply, wt.since, keepsHistory(this.historyFor(channel))));
        });
      },
      (err: Error) => {
        for (const [, waiters] of entries) for (const wt of waiters) wt.reject(err);
      },
    );
  }

  /** A join/leave frame from any node (this one's too): its `client` lets subscribers skip their own. */
  private onEventMessage(channel: string, frame: Buffer): void {
    let client: unknown;
    try {
      client = (JSON.parse(frame.toString()) as { client?: unknown }).client;
    } catch {
      return; // not ours: something else published on the key
    }
    if (typeof client === 'string') this.onPresenceEvent({ channel, client, frame });
  }

  presenceJoin(channel: string, entry: PresenceEntry, change: PresenceChange): void {
    this.presenceStore.join(channel, entry, change);
  }

  presenceLeave(channel: string, entry: PresenceEntry, change: PresenceChange): void {
    this.presenceStore.leave(channel, entry, change);
  }

  presence(channel: string, limit: number): Promise<PresenceSummary> {
    return this.presenceStore.read(channel, limit, !this.closed && this.cmd.status === 'ready' && !this.hung);
  }

  stats(): RedisBrokerStats {
    const s: RedisBrokerStats = {
      kind: this.kind,
      healthy: this.healthy,
      channels: this.watched.size,
      // history lives in Redis; its bytes as the budget counted them at this node's last publish
      historyMessages: 0,
      historyBytes: this.historyTotal,
      historyMemory: this.historyMemory,
      historyEvictions: this.historyEvictions,
      maxChannels: this.maxChannels,
      channelsRefused: this.channelsRefused,
      maxIdempotencyKeys: this.maxIdempotencyKeys,
      idempotencyRefused: this.idempotencyRefused,
      presenceEntries: this.presenceStore.entries,
      redis: { target: this.target, ...this.counters, presenceReads: this.presenceStore.reads, presenceFailures: this.presenceStore.failures },
    };
    if (!s.healthy && this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  async close(): Promise<void> {
    await this.presenceStore.removeOwn();
    this.closed = true;
    clearInterval(this.pingTimer);
    clearInterval(this.touchTimer);
    // QUIT politely, but a hung Redis must not hold the gateway's shutdown up
    await Promise.all([this.cmd, this.sub].map(async (c) => {
      let timer: NodeJS.Timeout | undefined;
      const quit = c.quit().then(() => true, () => false);
      const ok = await Promise.race([quit, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 1000)))]);
      clearTimeout(timer);
      if (!ok) c.disconnect();
    }));
  }
}

/**
 * A failed publish command: `FG_ERR_PUBLISH_FAILED` only when it surely did not run (never sent,
 * or Redis answered with an error, which a script raises before writing), else
 * `FG_ERR_PUBLISH_UNKNOWN` (a timeout or a connection lost while it was in flight).
 */
export function publishFailure(err: Error): ['FG_ERR_PUBLISH_FAILED' | 'FG_ERR_PUBLISH_UNKNOWN', string] {
  const msg = err.message;
  if (err.name === 'ReplyError' || /isn't writeable|enableOfflineQueue/i.test(msg)) {
    return ['FG_ERR_PUBLISH_FAILED', `redis broker: ${msg}; not published`];
  }
  return ['FG_ERR_PUBLISH_UNKNOWN', `redis broker: ${msg}; the publication may or may not have been stored and delivered`];
}

/**
 * One requester's answer from a batched read: reply = {epoch, offset, first, frame…} holding the
 * frames of offsets first…offset that are still in history (see READ_FROM_SCRIPT).
 */
export function answerFrom(channel: string, reply: ReadReply, since: RecoverPosition | undefined, keeps = true): RecoverAnswer {
  const epoch = reply[0].toString();
  const offset = Number(reply[1]);
  const first = Number(reply[2]);
  if (since === undefined) return { ok: true, epoch, offset, publications: [] };
  if (since.epoch !== epoch) return { ok: false, epoch, offset, reason: 'epoch_changed' };
  if (since.offset > offset) return { ok: false, epoch, offset, reason: 'offset_ahead' };
  if (since.offset === offset) return { ok: true, epoch, offset, publications: [] };
  // missed publications and a channel that keeps none: say so, rather than "gone"
  if (since.offset + 1 < first) return { ok: false, epoch, offset, reason: keeps ? 'history_gone' : 'history_off' };
  const publications: Publication[] = [];
  for (let o = since.offset + 1; o <= offset; o++) {
    const frame = reply[3 + o - first] as Buffer | undefined;
    if (frame === undefined) return { ok: false, epoch, offset, reason: 'history_gone' };
    publications.push({ channel, epoch, offset: o, frame });
  }
  return { ok: true, epoch, offset, publications };
}

/** The pub/sub channels a watched channel needs: its publications, and its joins/leaves when on. */
function subscriptionsOf(w: Watched): string[] {
  return w.events === undefined ? [w.pubsub] : [w.pubsub, w.events];
}
