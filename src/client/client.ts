import { FloodgateError, type ErrorCode } from '../errors.js';
import { CHANNEL_PATTERN, hasLoneSurrogate, MAX_KEY_LENGTH, type ClientFrame, type Json, type RecoverPosition, type RecoveryFailure, type ServerFrame } from '../protocol/frames.js';
import { readServerFrame } from '../protocol/server-frame.js';
import { chooseDelay, type ChosenDelay } from './backoff.js';
import { CircuitBreaker, type CircuitState, type CircuitTransition } from './circuit-breaker.js';
import { attemptError, fatalCloseCode, knownCode, refusalIsFinal } from './close-policy.js';
import { TypedEmitter } from './emitter.js';
import { Liveness } from './liveness.js';
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions, type WebSocketLike } from './options.js';
import { SubscribeQueue } from './subscribe-queue.js';
import { PresenceRequests, type PresenceResult } from './presence-requests.js';
import { Subscription, type MessageEvent, type SubscriptionOwner } from './subscription.js';
import { nativeTransport, type RefusedUpgrade, type Transport, type TransportFactory } from './transport.js';
import { loadWs, wsTransport } from './ws-transport.js';

export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'closed';

export interface ConnectedEvent {
  node: string;
  session: string;
  /** The server's WebSocket ping interval, ms. */
  pingInterval: number;
  maxPayload: number;
}

export interface DisconnectedEvent {
  /** WebSocket close code (1006 when the socket was lost or torn down by the client). */
  code: number;
  reason: string;
  /** Whether the client will reconnect by itself. */
  reconnect: boolean;
}

export interface RecoveryEvent {
  channel: string;
  recovered: boolean;
  reason?: RecoveryFailure;
  replayed?: number;
  epoch: string;
  offset: number;
}

export interface ClientEvents {
  state: { oldState: ClientState; newState: ClientState };
  /** The connection's token was renewed in place (`refresh` frame); `exp` is the new expiry in seconds. */
  refreshed: { exp: number };
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  /** A reconnect is scheduled after this delay (also recorded in `client.delays`). */
  reconnecting: ChosenDelay;
  error: FloodgateError;
  /** Every delivered message of every subscription (after the subscription's own handlers). */
  message: MessageEvent;
  /** The outcome of each resubscribe that asked to recover. */
  recovery: RecoveryEvent;
  circuit: CircuitTransition;
}

export interface PublishResult {
  epoch: string;
  offset: number;
  /** The server had already published this idempotencyKey (a retry): this is the original position. */
  duplicate?: boolean;
  /** How many times the client sent it again (after reconnects or an outcome-unknown answer) before this answer; absent when 0. */
  retries?: number;
}

export interface PublishOptions {
  /**
   * 1–64 characters. Within the server's `idempotencyWindow` a publish with the same key on the
   * same channel is published once; a retry gets the original `{epoch, offset}`.
   * @default `<publisherId>:<seq>` (unique per publish() call)
   */
  idempotencyKey?: string;
}

export interface ClientStats {
  state: ClientState;
  circuit: CircuitState;
  /** Connection attempts started. */
  attempts: number;
  /** Attempts that reached the welcome frame. */
  connects: number;
  /** Attempts that failed before the welcome frame. */
  failures: number;
  /** Established connections that were lost. */
  drops: number;
  subscriptions: number;
  pendingRequests: number;
}

interface Connection {
  gen: number;
  /** performance.now() of the welcome frame. */
  welcomedAt?: number;
  transport: Transport | undefined;
  welcomed: boolean;
  refused?: RefusedUpgrade;
  /** Why the client tore this connection down itself (timeouts), for the events. */
  teardown?: FloodgateError;
  liveness: Liveness | undefined;
  /** Renews the token before the server closes with 4001 (only with a token function). */
  refreshTimer?: ReturnType<typeof setTimeout>;
  refreshId?: number;
  /** When the last `refresh` was sent (ms): the next waits MIN_REFRESH_GAP_MS after it. */
  refreshSentAt?: number;
}

/**
 * Least time between two refreshes of one connection. An `exp` that is already past by this
 * machine's clock (a clock running ahead of the token issuer's, or a hostile server) would
 * otherwise make every `refreshed` schedule the next refresh at once: the token function and the
 * gateway called as fast as the network answers.
 */
const MIN_REFRESH_GAP_MS = 1000;

/** A connection that lasted this long after its welcome was a success: the backoff starts over. */
const STABLE_CONNECTION_MS = 5000;

/** A publish() between the call and its answer: kept until answered, refused or past its deadline. */
interface OutboxEntry {
  id: number;
  channel: string;
  /** The encoded frame, re-sent unchanged (same key, same seq) on retries. */
  text: string;
  /** Sent at least once: from then on a missing answer means "outcome unknown", not "not published". */
  sent: boolean;
  /** Generation of the connection it was last sent on; 0 = to be sent (again) on the current one. */
  onConn: number;
  retries: number;
  /** performance.now() of publish() + requestTimeout, and of the last send. */
  deadline: number;
  sentAt: number;
  resolve(r: PublishResult): void;
  reject(e: FloodgateError): void;
  timer: ReturnType<typeof setTimeout>;
}

interface ReadyWaiter {
  resolve(): void;
  reject(e: FloodgateError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** 18 random base-36 characters: names this client as a publisher (its `seq` counts per name). */
function randomPublisherId(): string {
  const bytes = new Uint8Array(9);
  globalThis.crypto.getRandomValues(bytes);
  let id = '';
  for (const b of bytes) id += b.toString(36).padStart(2, '0');
  return id;
}

/** Publishes unanswered on one connection at most; more wait in the outbox, in order. */
export const PUBLISH_WINDOW = 256;

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

let wsModule: Promise<Awaited<ReturnType<typeof loadWs>>> | undefined;

/**
 * The error for a connection the ws library ended because the server broke the WebSocket
 * protocol (its errors carry a `WS_ERR_*` code and the close code it would send), or undefined.
 */
function protocolViolation(error: Error | undefined): FloodgateError | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !code.startsWith('WS_ERR_')) return undefined;
  return new FloodgateError('FG_ERR_BAD_FRAME', `the server broke the WebSocket protocol or its limits (${error!.message}); reconnecting`, { wsCode: code });
}

function badChannel(channel: unknown): FloodgateError {
  return new FloodgateError(
    'FG_ERR_BAD_CHANNEL',
    `Expected \`channel\` to be 1–128 characters of A-Z a-z 0-9 _ - : . @ /, got ${JSON.stringify(channel)} (${typeof channel})`,
    { field: 'channel', value: channel },
  );
}

/**
 * A Floodgate client: one WebSocket per client, shared by all its subscriptions, that
 * reconnects with backoff and jitter, resubscribes with `recover`, and cleans up every socket
 * and timer it made. See docs/client.md.
 */
export class Client extends TypedEmitter<ClientEvents> implements SubscriptionOwner {
  readonly url: string;
  readonly options: ResolvedClientOptions;
  /** The reconnect delays chosen so far (newest last, at most `delayHistory`). */
  readonly delays: ChosenDelay[] = [];
  private _state: ClientState = 'disconnected';
  private conn: Connection | undefined;
  private gen = 0;
  private readonly subs = new Map<string, Subscription>();
  /** (Re)subscribe requests: windowed, retried when rate-limited. */
  private readonly subscribes: SubscribeQueue;
  /** From the welcome frame: publishes larger than this would close the connection (1009). */
  private maxPayload = Infinity;
  /** Publishes not yet answered, in the order publish() was called (= seq order). */
  private readonly outbox = new Map<number, OutboxEntry>();
  /** The publisher id this client sends with every publish; `seq` increases per publish() call. */
  readonly publisherId = randomPublisherId();
  private pubSeq = 0;
  /** From the welcome frame: retrying an unanswered publish is safe only when the server deduplicates. */
  private idempotencyWindow = 0;
  /** Publishes sent on the current connection and not yet answered (bounded by PUBLISH_WINDOW). */
  private inflightPubs = 0;
  private pumping = false;
  /**
   * Running while publishes answered "outcome unknown" wait to be sent again. Nothing newer is
   * sent meanwhile, so the re-sent copies reach the broker before any later publish of this
   * client: a later one applied first would make them stale (refused, and unknown for good),
   * while first in line they are either found (their original position) or applied in order.
   */
  private resendTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Time from sending a publish to its answer on this client (ms), smoothed with its variation
   * like TCP's SRTT and RTTVAR (RFC 6298); answerMs = 0: none seen yet. A publish is only sent
   * while it has answerMs + 4 × answerVarMs left before its deadline (see pumpOutbox).
   */
  private answerMs = 0;
  private answerVarMs = 0;
  private readyWaiters: ReadyWaiter[] = [];
  private nextId = 1;
  /** Failed attempts since the last welcome (maxAttempts counts these). */
  private failuresInRow = 0;
  /**
   * Connections in a row that dropped within STABLE_CONNECTION_MS of their welcome. Added to the
   * backoff exponent: a server that welcomes and drops at once (broken, or hostile) would
   * otherwise be reconnected to every initialDelay forever, by every client.
   */
  private quickDrops = 0;
  private readonly breaker: CircuitBreaker;
  // The client's timers: one slot each, all cleared on close().
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private closed: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  private readonly counts = { attempts: 0, connects: 0, failures: 0, drops: 0 };
  /** presence() requests waiting for their channel's subscription or their answer. */
  private readonly presenceAsks: PresenceRequests;

  constructor(url: string, options: ClientOptions = {}) {
    super();
    this.options = resolveClientOptions(url, options);
    this.url = url;
    this.subscribes = new SubscribeQueue({
      send: (frame) => this.send(frame),
      takeId: () => this.takeId(),
      isCurrent: (sub) => this.subs.get(sub.channel) === sub,
      delay: (round) => chooseDelay(this.options, round).delay,
    });
    this.presenceAsks = new PresenceRequests({
      send: (frame) => this.send(frame),
      takeId: () => this.takeId(),
      requestTimeout: this.options.requestTimeout,
    });
    this.breaker = new CircuitBreaker({
      threshold: this.options.circuitThreshold,
      window: this.options.circuitWindow,
      cooldown: this.options.circuitCooldown,
    });
    // Connect on the next microtask so listeners attached right after `new` see every event.
    if (this.options.autoConnect) queueMicrotask(() => this.connect());
  }

  get state(): ClientState {
    return this._state;
  }

  private get tokenRenewable(): boolean {
    return typeof this.options.token === 'function';
  }

  get circuitState(): CircuitState {
    return this.breaker.state;
  }

  stats(): ClientStats {
    return {
      state: this._state,
      circuit: this.breaker.state,
      ...this.counts,
      subscriptions: this.subs.size,
      pendingRequests: this.outbox.size + this.subscribes.pendingCount + this.presenceAsks.size,
    };
  }

  /** Starts connecting (again) if the client is disconnected; a no-op otherwise. */
  connect(): void {
    if (this._state !== 'disconnected') return;
    this.failuresInRow = 0;
    this.quickDrops = 0;
    this.breaker.reset();
    this.startAttempt();
  }

  /** Resolves when connected; rejects on timeout (FG_ERR_NOT_READY), close, or when the client stops trying. */
  ready(timeoutMs?: number): Promise<void> {
    if (this._state === 'connected') return Promise.resolve();
    if (this._state === 'closed') return Promise.reject(new FloodgateError('FG_ERR_CLIENT_CLOSED', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const waiter: ReadyWaiter = { resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
          reject(new FloodgateError('FG_ERR_NOT_READY', `not connected within ${timeoutMs} ms (state ${this._state})`, { timeoutMs, state: this._state }));
        }, timeoutMs);
      }
      this.readyWaiters.push(waiter);
    });
  }

  subscribe(channel: string, handler?: (ev: MessageEvent) => void, options: { since?: RecoverPosition } = {}): Subscription {
    if (typeof channel !== 'string' || !CHANNEL_PATTERN.test(channel)) throw badChannel(channel);
    if (handler !== undefined && typeof handler !== 'function') {
      throw new FloodgateError('FG_ERR_INVALID_CONFIG', `Expected the \`handler\` of subscribe(${channel}) to be a function, got ${handler === null ? 'null' : typeof handler} (options go third)`, { field: 'handler' });
    }
    if (this._state === 'closed') throw new FloodgateError('FG_ERR_CLIENT_CLOSED', 'the client is closed');
    if (this.subs.has(channel)) {
      throw new FloodgateError('FG_ERR_ALREADY_SUBSCRIBED', `this client already has a subscription to ${channel}; use client.getSubscription()`, { channel });
    }
    const since = options.since;
    if (since !== undefined && (typeof since.epoch !== 'string' || !Number.isSafeInteger(since.offset) || since.offset < 0)) {
      throw new FloodgateError('FG_ERR_INVALID_CONFIG', `Expected \`since\` to be {epoch: string, offset: integer ≥ 0}, got ${JSON.stringify(since)}`, { field: 'since', value: since });
    }
    const sub = new Subscription(this, channel, since);
    if (handler !== undefined) sub.on('message', handler);
    this.subs.set(channel, sub);
    sub._setState('subscribing');
    this.subscribes.add(sub);
    return sub;
  }

  /**
   * Who is subscribed to `channel`, over every node: connections, distinct token `sub`s, and the
   * subs listed up to the server's presenceLimit. The channel must have presence on, and this
   * client must subscribe to it (the server answers subscribers only): the request waits for the
   * subscription to be answered, and is asked again after a reconnect. Rejects with
   * FG_ERR_PRESENCE_OFF, FG_ERR_NOT_SUBSCRIBED, FG_ERR_FORBIDDEN_CHANNEL or
   * FG_ERR_PRESENCE_UNAVAILABLE (also after requestTimeout).
   */
  presence(channel: string): Promise<PresenceResult> {
    if (typeof channel !== 'string' || !CHANNEL_PATTERN.test(channel)) return Promise.reject(badChannel(channel));
    if (this._state === 'closed') return Promise.reject(new FloodgateError('FG_ERR_CLIENT_CLOSED', 'the client is closed'));
    const sub = this.subs.get(channel);
    if (sub === undefined) {
      return Promise.reject(new FloodgateError('FG_ERR_NOT_SUBSCRIBED', `presence of ${channel}: this client does not subscribe to it; presence is answered to subscribers (subscribe first)`, { channel }));
    }
    const conn = this.conn;
    return this.presenceAsks.ask(channel, sub.state === 'subscribed' && conn?.welcomed === true ? conn.gen : 0);
  }

  getSubscription(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  /** @internal called by Subscription.unsubscribe() */
  unsubscribeFromClient(sub: Subscription): void {
    if (this.subs.get(sub.channel) !== sub) return;
    this.subs.delete(sub.channel);
    this.subscribes.remove(sub);
    this.presenceAsks.unsubscribed(sub.channel);
    sub._setState('unsubscribed');
    if (this._state === 'connected') this.send({ type: 'unsubscribe', channel: sub.channel });
  }

  /**
   * Publishes and resolves with the publication's `{epoch, offset}` once the server acknowledged
   * it. Every publish carries an idempotencyKey and this client's publisher id and sequence
   * number, so an unanswered publish is re-sent (after a reconnect, or when the server reports
   * FG_ERR_PUBLISH_UNKNOWN) without risk of a second copy, and publishes apply in the order they
   * were called or are refused (docs/client.md). Rejects with FG_ERR_PUBLISH_FAILED when it was
   * surely not published, FG_ERR_PUBLISH_UNKNOWN when `requestTimeout` ran out after it was sent.
   */
  publish(channel: string, data: Json, options: PublishOptions = {}): Promise<PublishResult> {
    if (typeof channel !== 'string' || !CHANNEL_PATTERN.test(channel)) return Promise.reject(badChannel(channel));
    if (data === undefined) {
      return Promise.reject(new FloodgateError('FG_ERR_BAD_FRAME', 'Expected `data` to be a JSON value, got `undefined`', { field: 'data' }));
    }
    const key = options.idempotencyKey;
    if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > MAX_KEY_LENGTH)) {
      return Promise.reject(new FloodgateError('FG_ERR_INVALID_CONFIG', `Expected \`idempotencyKey\` to be a string of 1 to ${MAX_KEY_LENGTH} characters, got ${JSON.stringify(key)} (${typeof key})`, { field: 'idempotencyKey', value: key }));
    }
    if (key !== undefined && hasLoneSurrogate(key)) {
      return Promise.reject(new FloodgateError('FG_ERR_INVALID_CONFIG', `Expected \`idempotencyKey\` to be text, got ${JSON.stringify(key)}: it holds a lone surrogate (the gateway refuses it)`, { field: 'idempotencyKey', value: key }));
    }
    if (this._state === 'closed') return Promise.reject(new FloodgateError('FG_ERR_CLIENT_CLOSED', 'the client is closed'));
    const seq = ++this.pubSeq;
    const id = this.takeId();
    const frame: ClientFrame = { type: 'publish', id, channel, data, idempotencyKey: key ?? `${this.publisherId}:${seq}`, publisher: this.publisherId, seq };
    const text = JSON.stringify(frame);
    if (this._state === 'connected' && this.tooLarge(text)) {
      return Promise.reject(this.payloadTooLarge(channel));
    }
    return new Promise<PublishResult>((resolve, reject) => {
      const entry: OutboxEntry = {
        id, channel, text, sent: false, onConn: 0, retries: 0, deadline: performance.now() + this.options.requestTimeout, sentAt: 0, resolve, reject,
        timer: setTimeout(() => this.expirePublish(entry), this.options.requestTimeout),
      };
      this.outbox.set(id, entry);
      if (this._state === 'connected') this.pumpOutbox(entry);
    });
  }

  private tooLarge(text: string): boolean {
    // UTF-8 takes 1–3 bytes per UTF-16 unit: only encode when the length alone cannot decide.
    return text.length * 3 > this.maxPayload && (text.length > this.maxPayload || utf8Length(text) > this.maxPayload);
  }

  private payloadTooLarge(channel: string): FloodgateError {
    return new FloodgateError('FG_ERR_PAYLOAD_TOO_LARGE', `publish to ${channel}: the frame is larger than the server's maxPayload (${this.maxPayload} bytes); not sent`, { channel, maxPayload: this.maxPayload });
  }

  private sendPublish(entry: OutboxEntry): void {
    const conn = this.conn;
    if (conn === undefined || !conn.welcomed) return;
    if (!entry.sent && this.tooLarge(entry.text)) {
      this.settlePublish(entry, this.payloadTooLarge(entry.channel));
      return;
    }
    if (entry.onConn !== conn.gen) this.inflightPubs++;
    entry.sent = true;
    entry.sentAt = performance.now();
    entry.onConn = conn.gen;
    this.sendText(entry.text);
  }

  /**
   * Sends, in publish() order, what this connection has not carried yet, while fewer than
   * PUBLISH_WINDOW are unanswered on it: a reconnect re-sends a bounded burst, not the whole
   * backlog of a slow server at once (which would only make it slower), and the rest follow as
   * answers come back.
   */
  private pumpOutbox(fresh?: OutboxEntry): void {
    const conn = this.conn;
    if (this.pumping || this.resendTimer !== undefined || conn === undefined || !conn.welcomed) return;
    this.pumping = true;
    try {
      for (const entry of [...this.outbox.values()]) {
        if (this.inflightPubs >= PUBLISH_WINDOW) break;
        if (entry.onConn === conn.gen) continue;
        if (entry.sent) entry.retries++;
        else if (entry !== fresh && this.tooLateToSend(entry)) {
          // it waited so long behind earlier publishes that its answer could not come before its
          // deadline: sent now it would only end "outcome unknown" (and load a server that is
          // already behind). Not sending it makes the answer definite. (With nothing in flight it
          // is sent anyway, so the answer time keeps being measured.)
          this.settlePublish(entry, new FloodgateError('FG_ERR_PUBLISH_FAILED', `publish to ${entry.channel}: not sent, its requestTimeout (${this.options.requestTimeout} ms) would run out before an answer (answers take about ${Math.round(this.answerMs)} ± ${Math.round(this.answerVarMs)} ms and it waited behind ${this.outbox.size} unanswered publishes); not published`, { channel: entry.channel, answerMs: Math.round(this.answerMs) }));
          continue;
        }
        this.sendPublish(entry);
      }
    } finally {
      this.pumping = false;
    }
  }

  private settlePublish(entry: OutboxEntry, outcome: FloodgateError | PublishResult): void {
    if (this.outbox.get(entry.id) !== entry) return;
    this.outbox.delete(entry.id);

    if (this.conn !== undefined && entry.onConn === this.conn.gen) this.inflightPubs--;
    clearTimeout(entry.timer);
    if (outcome instanceof FloodgateError) entry.reject(outcome);
    else entry.resolve(outcome);
    if (this._state === 'connected') this.pumpOutbox();
  }

  /**
   * An "outcome unknown" answer: the publish is sent again, unchanged, after a short pause (100 ms
   * doubling up to 2 s with its retries), and until then nothing newer goes out (resendTimer).
   */
  private holdForResend(entry: OutboxEntry): void {
    if (this.conn !== undefined && entry.onConn === this.conn.gen) {
      this.inflightPubs--;
      entry.onConn = 0;
    }
    if (this.resendTimer !== undefined) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = undefined;
      if (this._state === 'connected') this.pumpOutbox();
    }, Math.min(2000, 100 * 2 ** Math.min(entry.retries, 5)));
  }

  /**
   * Less time left than an answer takes, while others are in flight (so answer times keep being
   * measured). Only asked of entries that waited behind earlier publishes: one being sent by its
   * own publish() call goes out.
   */
  private tooLateToSend(entry: OutboxEntry): boolean {
    if (this.inflightPubs === 0 || this.answerMs === 0) return false;
    return entry.deadline - performance.now() < this.answerMs + 4 * this.answerVarMs;
  }

  /** The server answered this publish on the current connection: how long answers take now. */
  private noteAnswer(entry: OutboxEntry): void {
    if (this.conn === undefined || entry.onConn !== this.conn.gen) return;
    const took = performance.now() - entry.sentAt;
    if (this.answerMs === 0) {
      this.answerMs = took;
      this.answerVarMs = took / 2;
      return;
    }
    this.answerVarMs += (Math.abs(this.answerMs - took) - this.answerVarMs) / 4;
    this.answerMs += (took - this.answerMs) / 8;
  }

  private expirePublish(entry: OutboxEntry): void {
    const t = this.options.requestTimeout;
    this.settlePublish(
      entry,
      entry.sent
        ? new FloodgateError('FG_ERR_PUBLISH_UNKNOWN', `publish to ${entry.channel}: no answer within requestTimeout (${t} ms); it may or may not have been published`, { channel: entry.channel, retries: entry.retries })
        : new FloodgateError('FG_ERR_PUBLISH_FAILED', `publish to ${entry.channel}: not sent within requestTimeout (${t} ms: not connected, or waiting behind earlier publishes); not published`, { channel: entry.channel }),
    );
  }

  /**
   * After a (re)connect, in publish() order: unsent publishes go out, and so do those sent on a
   * lost connection when the server deduplicates (same key, same seq: a copy that did arrive
   * answers its original offset; a stale one is refused, never applied out of order).
   */
  private flushOutbox(conn: Connection): void {
    this.inflightPubs = 0;
    // the reconnect took its own backoff: what waited to be re-sent goes now, in order
    if (this.resendTimer !== undefined) clearTimeout(this.resendTimer);
    this.resendTimer = undefined;
    if (this.idempotencyWindow <= 0) {
      for (const entry of [...this.outbox.values()]) {
        if (!entry.sent || entry.onConn === conn.gen) continue;
        this.settlePublish(entry, new FloodgateError('FG_ERR_PUBLISH_UNKNOWN', `publish to ${entry.channel}: the connection dropped before the answer and the server does not deduplicate (idempotencyWindow 0), so it is not re-sent; it may or may not have been published`, { channel: entry.channel }));
      }
    }
    this.pumpOutbox();
  }

  /** Stopped for good (or closed): what was sent may have been published, the rest was not. */
  private failOutbox(code: ErrorCode | undefined, message: string): void {
    for (const entry of [...this.outbox.values()]) {
      const c: ErrorCode = code ?? (entry.sent ? 'FG_ERR_PUBLISH_UNKNOWN' : 'FG_ERR_PUBLISH_FAILED');
      this.settlePublish(entry, new FloodgateError(c, `publish to ${entry.channel}: ${message}`, { channel: entry.channel, outcome: entry.sent ? 'unknown' : 'not_published' }));
    }
  }

  /**
   * Closes the connection politely (close code 1000; the socket is destroyed after
   * `closeTimeout` if the server does not answer), clears every timer, rejects pending
   * operations with FG_ERR_CLIENT_CLOSED. Resolves when the socket is gone.
   */
  close(): Promise<void> {
    if (this.closed !== undefined) return this.closed;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.setState('closed');
    this.clearTimers();
    const err = new FloodgateError('FG_ERR_CLIENT_CLOSED', 'the client was closed');
    this.rejectWaiters(err);
    this.failOutbox('FG_ERR_CLIENT_CLOSED', 'the client was closed');
    this.presenceAsks.rejectAll(err);
    this.subscribes.clear();
    for (const sub of this.subs.values()) sub._setState('unsubscribed');
    this.subs.clear();
    const conn = this.conn;
    if (conn?.transport === undefined) {
      // Nothing open (or the socket is still being created: its generation is now stale).
      this.conn = undefined;
      this.finishClose();
    } else if (conn.welcomed) {
      conn.transport.close(1000, 'client closed');
      this.closeTimer = setTimeout(() => {
        this.closeTimer = undefined;
        conn.transport?.terminate();
      }, this.options.closeTimeout);
    } else {
      conn.transport.terminate();
    }
    return this.closed;
  }

  // ---- connection lifecycle ----

  private startAttempt(): void {
    if (this._state === 'closed') return;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.setState('connecting');
    this.counts.attempts++;
    const conn: Connection = { gen: ++this.gen, transport: undefined, welcomed: false, liveness: undefined };
    this.conn = conn;
    // The connect timeout covers everything up to the welcome frame, token and transport loading included.
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      if (this.conn !== conn) return;
      const err = new FloodgateError('FG_ERR_CONNECT_TIMEOUT', `no welcome from ${this.url} within connectTimeout (${this.options.connectTimeout} ms)`, { connectTimeout: this.options.connectTimeout });
      if (conn.transport !== undefined) {
        conn.teardown = err;
        conn.transport.terminate();
      } else {
        this.attemptFailed(conn, err);
      }
    }, this.options.connectTimeout);
    void this.openTransport(conn);
  }

  private async openTransport(conn: Connection): Promise<void> {
    let factory: TransportFactory;
    let url: string;
    try {
      factory = await this.transportFactory();
      url = await this.connectUrl();
    } catch (err) {
      if (this.conn !== conn) return;
      const e = err instanceof FloodgateError ? err : new FloodgateError('FG_ERR_CONNECT_FAILED', `could not prepare the connection: ${(err as Error)?.message ?? String(err)}`);
      this.attemptFailed(conn, e);
      return;
    }
    if (this.conn !== conn) return; // closed or superseded meanwhile
    try {
      conn.transport = factory(url, {
        open: () => {},
        message: (text) => this.onText(conn, text),
        binary: () => {
          if (this.conn !== conn) return;
          conn.liveness?.activity();
          this.emit('error', new FloodgateError('FG_ERR_BINARY_FRAME', 'the server sent a binary frame; the protocol uses JSON text frames only (ignored)'));
        },
        refused: (info) => {
          conn.refused = info;
        },
        activity: () => conn.liveness?.activity(),
        close: (code, reason, error) => this.onTransportClose(conn, code, reason, error),
      });
    } catch (err) {
      // e.g. a bad URL for the WebSocket constructor
      this.attemptFailed(conn, new FloodgateError('FG_ERR_CONNECT_FAILED', `could not open a WebSocket to ${this.url}: ${(err as Error)?.message ?? String(err)}`));
    }
  }

  private async transportFactory(): Promise<TransportFactory> {
    const o = this.options;
    if (o.WebSocket !== undefined) return nativeTransport(o.WebSocket);
    if (o.transport === 'ws' || (o.transport === 'auto' && isNode)) {
      wsModule ??= loadWs();
      const mod = await wsModule;
      const f = mod ? wsTransport(mod, o.tls, o.maxMessageBytes) : undefined;
      if (f !== undefined) return f;
      if (o.transport === 'ws') throw new FloodgateError('FG_ERR_CONNECT_FAILED', "transport 'ws' was asked for but the `ws` package could not be loaded");
    }
    const Native = (globalThis as { WebSocket?: WebSocketLike }).WebSocket;
    if (Native === undefined) {
      const why = o.transport === 'native' ? "transport 'native' needs a global WebSocket (browsers, Node >= 22)" : 'no WebSocket implementation';
      throw new FloodgateError('FG_ERR_UNSUPPORTED_PLATFORM', `${why}: install the \`ws\` package and use transport 'auto', or pass options.WebSocket`);
    }
    return nativeTransport(Native);
  }

  private async connectUrl(): Promise<string> {
    const t = this.options.token;
    if (t === undefined) return this.url;
    const token = typeof t === 'function' ? await t() : t;
    const u = new URL(this.url);
    u.searchParams.set('token', token);
    return u.toString();
  }

  private onText(conn: Connection, text: string): void {
    if (this.conn !== conn) return;
    conn.liveness?.activity();
    // a frame of the wrong shape would otherwise throw inside this handler, i.e. inside the socket's event
    const read = readServerFrame(text);
    if (!read.ok) {
      this.emit('error', new FloodgateError('FG_ERR_BAD_FRAME', read.reason));
      return;
    }
    const f = read.frame;
    switch (f.type) {
      case 'message': {
        const sub = this.subs.get(f.channel);
        if (sub === undefined || sub.state !== 'subscribed') return;
        const ev = sub._deliver(f);
        if (ev !== undefined && this.listenerCount('message') > 0) this.emit('message', ev);
        return;
      }
      case 'welcome':
        this.onWelcome(conn, f);
        return;
      case 'subscribed': {
        const pending = f.id === undefined ? undefined : this.subscribes.answered(f.id);
        if (pending === undefined) return; // unsubscribed meanwhile, or a duplicate
        const ev = pending.sub._onSubscribed(f, pending.recovering);
        if (this.conn === conn) this.presenceAsks.subscribed(pending.sub.channel, conn.gen);
        if (ev.recovering) {
          const rec: RecoveryEvent = { channel: ev.channel, recovered: ev.recovered === true, epoch: ev.epoch, offset: ev.offset };
          if (ev.reason !== undefined) rec.reason = ev.reason;
          if (ev.replayed !== undefined) rec.replayed = ev.replayed;
          this.emit('recovery', rec);
        }
        return;
      }
      case 'published': {
        const p = f.id === undefined ? undefined : this.outbox.get(f.id);
        if (p === undefined) return;
        this.noteAnswer(p);
        const result: PublishResult = { epoch: f.epoch, offset: f.offset };
        if (f.duplicate === true) result.duplicate = true;
        if (p.retries > 0) result.retries = p.retries;
        this.settlePublish(p, result);
        return;
      }
      case 'refreshed':
        if (f.id !== undefined && f.id === conn.refreshId) {
          conn.refreshId = undefined;
          this.emit('refreshed', { exp: f.exp });
          this.scheduleRefresh(conn, f.exp);
        }
        return;
      case 'error':
        this.onErrorFrame(f);
        return;
      case 'unsubscribed':
        if (f.id === undefined && f.code !== undefined) this.onRevoked(f.channel, f.code, f.message ?? '');
        return;
      case 'presence':
        this.presenceAsks.answered(f);
        return;
      case 'join':
      case 'leave': {
        const sub = this.subs.get(f.channel);
        if (sub !== undefined && sub.state === 'subscribed') sub._joinLeave(f);
        return;
      }
      default:
        return; // pong: liveness already counted
    }
  }

  private onWelcome(conn: Connection, f: Extract<ServerFrame, { type: 'welcome' }>): void {
    if (conn.welcomed) return;
    conn.welcomed = true;
    conn.welcomedAt = performance.now();
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.failuresInRow = 0;
    this.counts.connects++;
    const t = this.breaker.recordSuccess();
    if (t !== undefined) this.emit('circuit', t);
    this.setState('connected');
    this.maxPayload = typeof f.maxPayload === 'number' && f.maxPayload > 0 ? f.maxPayload : Infinity;
    this.idempotencyWindow = typeof f.idempotencyWindow === 'number' ? f.idempotencyWindow : 0;
    this.emit('connected', { node: f.node, session: f.session, pingInterval: f.pingInterval, maxPayload: f.maxPayload });
    if (this.conn !== conn) return; // a listener closed the client
    this.flushOutbox(conn);
    this.subscribes.start(this.subs.values());
    this.scheduleRefresh(conn, f.exp);
    if (this.options.pingInterval > 0) {
      conn.liveness = new Liveness(this.options, {
        ping: () => this.send({ type: 'ping' }),
        dead: () => {
          conn.teardown = new FloodgateError('FG_ERR_CONNECT_TIMEOUT', `no frame from the server within pongTimeout (${this.options.pongTimeout} ms) after a ping; reconnecting`, { pongTimeout: this.options.pongTimeout });
          conn.transport?.terminate();
        },
      });
      conn.liveness.start();
    }
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.resolve();
    }
  }

  /**
   * The server ended a subscription by itself (a refreshed token no longer allows the channel):
   * it is dropped here too, so a reconnect does not ask for it again, and its owner is told
   * through the subscription's `error` (and the client's) and its state becoming `unsubscribed`.
   */
  private onRevoked(channel: string, serverCode: string, message: string): void {
    const sub = this.subs.get(channel);
    if (sub === undefined) return;
    this.subs.delete(channel);
    this.subscribes.remove(sub);
    const code: ErrorCode = knownCode(serverCode) ? serverCode : 'FG_ERR_SERVER_ERROR';
    const err = new FloodgateError(code, message, { serverCode, channel });
    this.presenceAsks.rejectChannel(channel, err);
    sub._setState('unsubscribed');
    sub._error(err);
    this.emit('error', err);
  }

  private onErrorFrame(f: Extract<ServerFrame, { type: 'error' }>): void {
    const code: ErrorCode = knownCode(f.code) ? f.code : 'FG_ERR_SERVER_ERROR';
    const details: Record<string, unknown> = { serverCode: f.code };
    if (f.channel !== undefined) details.channel = f.channel;
    const err = new FloodgateError(code, f.message, details);
    if (f.id !== undefined) {
      if (this.presenceAsks.refused(f.id, err)) return;
      const p = this.outbox.get(f.id);
      if (p !== undefined) {
        this.noteAnswer(p);
        // Unknown: the broker timed out. And a refusal of a *re-sent* copy speaks only of that
        // copy: an earlier one may have been stored before the connection dropped. When the
        // refusal is passing (the broker could not be asked, or the copy was dropped by a rate
        // limit) ask again with the same key until requestTimeout (a stored copy answers its
        // original offset); any other refusal of a re-send leaves the outcome unknown.
        const passing = code === 'FG_ERR_PUBLISH_FAILED' || code === 'FG_ERR_RATE_LIMITED' || code === 'FG_ERR_IP_RATE_LIMITED';
        const unknown = code === 'FG_ERR_PUBLISH_UNKNOWN' || (passing && p.retries > 0);
        if (unknown && this.idempotencyWindow > 0) {
          this.holdForResend(p);
          return;
        }
        if (p.retries > 0 && code !== 'FG_ERR_PUBLISH_UNKNOWN') {
          // e.g. refused as out of order: a newer publish was applied first, and this one's
          // earlier copy may have been stored and its key forgotten (Redis restarted without
          // persistence): not "surely not published"
          this.settlePublish(p, new FloodgateError('FG_ERR_PUBLISH_UNKNOWN', `publish to ${p.channel}: a re-sent copy was refused (${code}: ${f.message}); an earlier copy may have been published`, { ...details, cause: code }));
          return;
        }
        this.settlePublish(p, err);
        return;
      }
      if (this.subscribes.owns(f.id)) {
        // Rate-limited subscribes are retried there; other refusals reach the subscription,
        // which stays registered and is retried at the next reconnect.
        const s = this.subscribes.refused(f.id, f.code);
        if (s === undefined) return;
        this.presenceAsks.rejectChannel(s.sub.channel, err);
        s.sub._error(err);
        this.emit('error', err);
        return;
      }
    } else if (code === 'FG_ERR_RATE_LIMITED') {
      this.subscribes.rateLimited();
    }
    this.emit('error', err);
  }

  private onTransportClose(conn: Connection, code: number, reason: string, error?: Error): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    conn.transport = undefined;
    this.clearConnectionTimers(conn);
    if (this._state === 'closed') {
      this.finishClose();
      return;
    }
    if (!conn.welcomed) {
      this.attemptFailed(conn, conn.teardown ?? attemptError(this.url, conn.refused, code, reason, error));
      return;
    }
    // An established connection was lost.
    this.counts.drops++;
    this.quickDrops = performance.now() - (conn.welcomedAt ?? 0) < STABLE_CONNECTION_MS ? this.quickDrops + 1 : 0;
    // The ws library ends the connection itself when the server breaks RFC 6455 (invalid UTF-8,
    // RSV bits, a masked frame, a bad close code…): the server's fault, not a verdict on this
    // client, so whatever code the close carries it is reported and the client reconnects.
    const violation = protocolViolation(error);
    // unanswered publishes stay in the outbox: re-sent after the reconnect (flushOutbox)
    this.subscribes.clear();
    for (const sub of this.subs.values()) sub._setState('subscribing');
    const fatal = conn.teardown === undefined && violation === undefined ? fatalCloseCode(code, this.tokenRenewable) : undefined;
    const reconnect = fatal === undefined;
    this.emit('disconnected', { code, reason: conn.teardown?.message ?? violation?.message ?? reason, reconnect });
    if (conn.teardown !== undefined) this.emit('error', conn.teardown);
    else if (violation !== undefined) this.emit('error', violation);
    if (fatal !== undefined) {
      this.emit('error', new FloodgateError(fatal, `the server closed the connection with ${code}${reason ? ` (${reason})` : ''}; not reconnecting`, { closeCode: code }));
      this.stop(fatal, `closed with ${code}`);
      return;
    }
    this.scheduleReconnect(undefined);
  }

  /** An attempt ended before the welcome frame: count it, tell the app, and retry or stop. */
  private attemptFailed(conn: Connection, err: FloodgateError): void {
    if (this.conn === conn) this.conn = undefined;
    this.clearConnectionTimers(conn);
    this.counts.failures++;
    this.failuresInRow++;
    this.emit('error', err);
    if (refusalIsFinal(conn.refused, this.tokenRenewable)) {
      this.stop(err.code, err.message);
      return;
    }
    if (this.options.maxAttempts > 0 && this.failuresInRow >= this.options.maxAttempts) {
      const e = new FloodgateError('FG_ERR_RECONNECT_EXHAUSTED', `gave up after ${this.failuresInRow} failed attempts (maxAttempts); last: ${err.message}`, { attempts: this.failuresInRow, last: err.code });
      this.emit('error', e);
      this.stop(e.code, e.message);
      return;
    }
    const t = this.breaker.recordFailure(Date.now());
    if (t !== undefined && t.state === 'open') {
      this.openCircuit(t);
      return;
    }
    this.scheduleReconnect(conn.refused?.retryAfter);
  }

  private openCircuit(t: Extract<CircuitTransition, { state: 'open' }>): void {
    const wait = Math.max(0, t.retryAt - Date.now());
    this.recordDelay({ attempt: this.failuresInRow, delay: wait, base: wait, min: wait, max: wait, reason: 'circuit-open' });
    this.setState('disconnected');
    this.emit('circuit', t);
    this.rejectWaiters(new FloodgateError('FG_ERR_CIRCUIT_OPEN', `${this.url} failed ${t.failures} times within circuitWindow; next try in ${wait} ms`, { failures: t.failures, retryAt: t.retryAt }));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      const h = this.breaker.tryHalfOpen(Math.max(Date.now(), t.retryAt));
      if (h !== undefined) this.emit('circuit', h);
      this.startAttempt();
    }, wait);
  }

  private scheduleReconnect(retryAfter: number | undefined): void {
    const d = chooseDelay(this.options, this.failuresInRow + Math.max(0, this.quickDrops - 1), retryAfter);
    this.recordDelay(d);
    this.setState('connecting');
    this.emit('reconnecting', d);
    if (this._state !== 'connecting') return; // a listener closed the client
    this.reconnectTimer = setTimeout(() => this.startAttempt(), d.delay);
  }

  private recordDelay(d: ChosenDelay): void {
    if (this.options.delayHistory === 0) return;
    if (this.delays.length >= this.options.delayHistory) this.delays.shift();
    this.delays.push(d);
  }

  /** Stops trying: state disconnected until connect() is called. */
  private stop(code: ErrorCode, message: string): void {
    this.setState('disconnected');
    this.rejectWaiters(new FloodgateError(code, message));
    this.failOutbox(undefined, `the client stopped reconnecting (${code}: ${message})`);
    this.presenceAsks.rejectAll(new FloodgateError('FG_ERR_PRESENCE_UNAVAILABLE', `the client stopped reconnecting (${code}: ${message})`));
  }

  // ---- helpers ----

  private send(frame: ClientFrame): void {
    this.sendText(JSON.stringify(frame));
  }

  private sendText(text: string): void {
    const t = this.conn?.transport;
    if (t === undefined) return;
    try {
      t.send(text);
    } catch {
      // The socket is closing: its close handler will reject what is pending.
    }
  }

  private takeId(): number {
    const id = this.nextId;
    this.nextId = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    return id;
  }

  private setState(next: ClientState): void {
    if (next === this._state) return;
    const oldState = this._state;
    this._state = next;
    this.emit('state', { oldState, newState: next });
  }

  private rejectWaiters(err: FloodgateError): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private clearConnectionTimers(conn: Connection | undefined): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    conn?.liveness?.stop();
    if (conn?.refreshTimer !== undefined) clearTimeout(conn.refreshTimer);
    if (conn) conn.refreshTimer = undefined;
  }

  /**
   * With a token function and a token that expires (`exp` in welcome/refreshed), asks the function
   * for a new token ahead of time and sends it in a `refresh` frame: the server would otherwise close
   * with 4001 at `exp`. The margin is a tenth of the time left, from 1 s to 60 s.
   */
  private scheduleRefresh(conn: Connection, exp: number | undefined): void {
    if (conn.refreshTimer !== undefined) clearTimeout(conn.refreshTimer);
    conn.refreshTimer = undefined;
    if (typeof this.options.token !== 'function' || typeof exp !== 'number') return;
    const left = exp * 1000 - Date.now();
    const sinceLast = conn.refreshSentAt === undefined ? Infinity : Date.now() - conn.refreshSentAt;
    const delay = Math.min(2 ** 31 - 1, Math.max(0, MIN_REFRESH_GAP_MS - sinceLast, left - Math.min(60_000, Math.max(1000, left / 10))));
    conn.refreshTimer = setTimeout(() => void this.refreshToken(conn), delay);
  }

  private async refreshToken(conn: Connection): Promise<void> {
    conn.refreshTimer = undefined;
    const fn = this.options.token;
    if (this.conn !== conn || typeof fn !== 'function') return;
    let token: string;
    try {
      token = await fn();
    } catch (err) {
      this.emit('error', new FloodgateError('FG_ERR_UNAUTHORIZED', `the token function failed while renewing the token: ${(err as Error)?.message ?? String(err)}`));
      return;
    }
    if (this.conn !== conn || !conn.welcomed) return;
    const id = this.takeId();
    conn.refreshId = id;
    conn.refreshSentAt = Date.now();
    this.send({ type: 'refresh', id, token });
  }

  private clearTimers(): void {
    this.clearConnectionTimers(this.conn);
    if (this.resendTimer !== undefined) clearTimeout(this.resendTimer);
    this.resendTimer = undefined;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private finishClose(): void {
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    const r = this.resolveClosed;
    this.resolveClosed = undefined;
    r?.();
  }
}
