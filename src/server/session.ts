import type { WebSocket, RawData } from 'ws';
import type { Broker, Publication } from '../broker/broker.js';
import { FloodgateError, type ErrorCode } from '../errors.js';
import { CloseCode } from '../protocol/close-codes.js';
import { decodeClientFrame, encodeServerFrame, frameIdOf } from '../protocol/codec.js';
import type { ClientFrame, PresenceRequestFrame, PublishFrame, RefreshFrame, ServerFrame, SubscribeFrame, UnsubscribeFrame } from '../protocol/frames.js';
import type { PresenceEvent } from '../broker/presence.js';
import type { PresenceRulesFor } from '../auth/presence-rules.js';
import type { ServerSettings } from '../config/server-settings.js';
import { buildTextFrame, PING_FRAME, writePrebuilt, writePrebuiltFrames } from './frame-writer.js';
import { MAX_BATCH_BYTES, type WriteCoalescer } from './write-coalescer.js';
import { ReplyOrder } from './reply-order.js';
import type { IpLimits } from './ip-limits.js';
import type { GatewayCounters } from './stats.js';
import type { ChannelNamespaces } from '../auth/namespaces.js';

/** What a session needs from the gateway around it. */
export interface SessionContext {
  readonly settings: Readonly<ServerSettings>;
  readonly broker: Broker;
  readonly counters: GatewayCounters;
  readonly hub: {
    add(channel: string, session: Session): void;
    remove(channel: string, session: Session): void;
  };
  readonly log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void };
  /**
   * Prepended to the session id to name a connection uniquely over all nodes, workers and
   * restarts (presence entries, join/leave frames): the node's name and a random tag, because
   * workers may share a nodeId and session ids restart at 0 in every process.
   */
  readonly clientPrefix: string;
  /** Presence and join/leave per channel (settings, or the channel's namespace). */
  readonly presenceRules: PresenceRulesFor;
  /** Flushes every session's outbox once per turn of the event loop. */
  readonly coalescer: WriteCoalescer;
  /**
   * Checks a token with the gateway's verification (whatever the token format), for `refresh`.
   * Undefined when the gateway checks no tokens.
   */
  readonly verifyToken?: (token: string) => Promise<{ ok: true; exp: number; sub: string | undefined; canUse: ((channel: string) => boolean) | undefined } | { ok: false; reason: string }>;
  /** Channel options by prefix: who may publish, and what a refused token lacked. */
  readonly namespaces?: Pick<ChannelNamespaces, 'rulesFor' | 'requirement'>;
  /** Per-IP allowances, when one is set (see ip-limits.ts). */
  readonly ipLimits?: IpLimits;
  /** The socket has closed and the session left its channels. */
  sessionClosed(session: Session): void;
}

interface SubState {
  epoch: string;
  lastOffset: number;
  /** While the broker answers a subscribe, live publications wait here (then deduplicated by offset). */
  pending: Publication[] | undefined;
  /** An unsubscribe that arrived before the subscribe was answered: done right after the answer. */
  unsubscribe?: UnsubscribeFrame;
  /** A refreshed token no longer allows the channel while the subscribe was being answered: revoked right after the answer. */
  revoked?: true;
  /** Told the broker on subscribing, so the same is undone on leaving: PRESENT_STORED | PRESENT_ANNOUNCED. */
  present: number;
}

const PRESENT_STORED = 1;
const PRESENT_ANNOUNCED = 2;

/** Monotonic whole milliseconds since the process started. */
export function monoMs(): number {
  return Math.floor(performance.now());
}

/** Malformed frames in a row before the connection is closed with 4002. */
const BAD_FRAMES_CLOSE = 20;

/**
 * One WebSocket connection: decodes and rate-limits inbound frames, tracks its subscriptions'
 * positions, and writes publications. Kept to plain fields (no per-connection closures or
 * timers) because tens of thousands of these live in one process; liveness and slow-consumer
 * checks are done by the gateway's sweep over all sessions.
 */
export class Session {
  readonly id: string;
  readonly ws: WebSocket;
  private readonly ctx: SessionContext;
  private subs: Map<string, SubState> | undefined;
  private canUse: ((channel: string) => boolean) | undefined;
  /** Expiry of the connection's token, seconds since the epoch; 0 = no token. The sweep closes with 4001 past it. */
  tokenExp = 0;
  // Times are whole milliseconds of monoMs() and counters small integers, so V8 keeps them
  // unboxed in the object: this object exists once per connection.
  // token bucket, in thousandths of a token
  private milliTokens: number;
  private refilledAt: number;
  private limitedInARow = 0;
  private badInARow = 0;
  /** Created on the first answer that waits on the broker; keeps answers in request order. */
  private replies: ReplyOrder | undefined;
  // liveness and write progress, read by the sweep
  lastSeen: number;
  lastRead = 0;
  lastPing: number;
  /**
   * Set by the sweep when the next ping is nearly due: the next publication written takes the
   * ping along in its write, so a busy connection's pings cost no system call of their own.
   */
  pingSoon = false;
  overLimitChecks = 0;
  lastFlushed = -1;
  stalledSince = 0;
  closing = false;
  // publication frames of this turn, written together at its end (see write-coalescer.ts);
  // the first apart, so the common turn with one frame allocates no array
  private outFirst: Buffer | undefined = undefined;
  private outMore: Buffer[] | undefined = undefined;
  private outBytes = 0;
  /** The coalescer's turn in which this connection last wrote a frame directly; later frames of that turn are queued. */
  private wroteInTurn = 0;
  /** The client's address, set by the gateway only when a per-IP limit is on. */
  ip = '';
  /** The token's `sub`, set by the gateway; '' = anonymous (presence counts it, lists it not). */
  tokenSub = '';

  constructor(id: string, ws: WebSocket, ctx: SessionContext, canUse: ((channel: string) => boolean) | undefined) {
    this.id = id;
    this.ws = ws;
    this.ctx = ctx;
    this.canUse = canUse;
    this.milliTokens = ctx.settings.rateBurst * 1000;
    const now = monoMs();
    this.refilledAt = now;
    this.lastSeen = now;
    // spread pings over the interval: a burst of connections must not become a burst of pings.
    // The first is due between half an interval and one after the upgrade (the handshake has
    // just shown the peer alive), so a burst's pings do not land while the burst is still served.
    this.lastPing = now - Math.floor(Math.random() * (ctx.settings.pingInterval / 2));
  }

  get subscriptionCount(): number {
    return this.subs?.size ?? 0;
  }

  send(frame: ServerFrame): void {
    if (this.ws.readyState !== 1) return;
    if (this.outFirst) this.flushOutbox(); // replies never overtake publications queued before them
    this.ws.send(encodeServerFrame(frame));
    this.ctx.counters.messagesOut++;
  }

  /** An answer to a request: it leaves after the answers to earlier requests (see ReplyOrder). */
  private answer(frame: ServerFrame): void {
    const r = this.replies;
    if (r === undefined || r.idle) this.send(frame);
    else r.run(() => this.send(frame));
  }

  private sendError(code: ErrorCode, message: string, id?: number, channel?: string): void {
    const frame: ServerFrame = { type: 'error', code, message };
    if (id !== undefined) frame.id = id;
    if (channel !== undefined) frame.channel = channel;
    this.answer(frame);
  }

  /**
   * Closes once the answers to frames already processed have left (the close must not overtake
   * them). From now on no frame is read and no publication written; a broker that never answers
   * cannot hold the connection open past a few seconds.
   */
  private closeAfterReplies(code: number, reason: string): void {
    const r = this.replies;
    if (r === undefined || r.idle) {
      this.closeWith(code, reason);
      return;
    }
    if (this.closing) return;
    this.closing = true;
    const shut = (): void => {
      if (this.outFirst) this.flushOutbox(); // publications queued this turn go before the close
      try {
        this.ws.close(code, reason);
      } catch {
        this.ws.terminate();
        return;
      }
      setTimeout(() => this.ws.terminate(), 1000).unref();
    };
    r.run(shut);
    setTimeout(() => { if (this.ws.readyState === 1) shut(); }, 5000).unref();
  }

  /**
   * Closes with a code; a peer that does not answer the close frame is cut off `graceMs` later
   * (1 s, or the whole shutdownTimeout when the server shuts down).
   */
  closeWith(code: number, reason: string, graceMs = 1000): void {
    if (this.closing) return;
    this.closing = true;
    if (this.outFirst) this.flushOutbox();
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
      return;
    }
    setTimeout(() => this.ws.terminate(), graceMs).unref();
  }

  private takeToken(now: number): boolean {
    const s = this.ctx.settings;
    const full = s.rateBurst * 1000;
    if (this.milliTokens < full) {
      // ms × tokens/s = thousandths of a token; the clock only advances by what was credited
      const credit = Math.floor((now - this.refilledAt) * s.rateRefill);
      if (credit > 0) {
        this.milliTokens = Math.min(full, this.milliTokens + credit);
        this.refilledAt = now;
      }
    } else {
      this.refilledAt = now;
    }
    if (this.milliTokens >= 1000) {
      this.milliTokens -= 1000;
      return true;
    }
    return false;
  }

  onMessage(data: RawData, isBinary: boolean): void {
    if (this.closing) return; // frames still in flight after we decided to close
    const now = monoMs();
    const counters = this.ctx.counters;
    counters.messagesIn++;
    if (!this.takeToken(now)) {
      counters.rateLimitedMessages++;
      this.limitedInARow++;
      const limit = this.ctx.settings.rateLimitClose;
      if (limit > 0 && this.limitedInARow >= limit) {
        counters.closedRateLimited++;
        this.closeAfterReplies(CloseCode.RATE_LIMITED, 'rate limit exceeded');
        return;
      }
      // the refused frame is only looked at for its id, so the client knows which one was dropped
      const refused = isBinary ? undefined : frameIdOf(data.toString());
      this.sendError('FG_ERR_RATE_LIMITED', `more than ${this.ctx.settings.rateRefill}/s (burst ${this.ctx.settings.rateBurst}); frame dropped`, refused);
      return;
    }
    this.limitedInARow = 0;
    if (isBinary) {
      this.badFrame('FG_ERR_BINARY_FRAME', 'binary frames are not part of the protocol; send JSON text frames');
      return;
    }
    const decoded = decodeClientFrame(data.toString(), this.ctx.settings.maxDepth);
    if (!decoded.ok) {
      this.badFrame(decoded.code, decoded.message, decoded.id);
      return;
    }
    this.badInARow = 0;
    this.handle(decoded.frame);
  }

  /**
   * A WebSocket ping from the client (ws answers the pong itself). It takes a token like any frame,
   * so a ping flood ends in 4029 like any other flood instead of costing a pong each without bound.
   */
  onPing(): void {
    if (this.closing) return;
    const counters = this.ctx.counters;
    counters.pingsIn++;
    if (this.takeToken(monoMs())) {
      this.limitedInARow = 0;
      return;
    }
    counters.rateLimitedMessages++;
    const limit = this.ctx.settings.rateLimitClose;
    if (limit > 0 && ++this.limitedInARow >= limit) {
      counters.closedRateLimited++;
      this.closeAfterReplies(CloseCode.RATE_LIMITED, 'rate limit exceeded');
    }
  }

  /** An exception escaped the handling of one frame: answered, counted, logged; the connection stays. */
  failed(err: unknown): void {
    this.ctx.counters.internalErrors++;
    this.ctx.log.warn({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err), session: this.id }, 'frame handling failed');
    try {
      this.sendError('FG_ERR_INTERNAL', 'the server failed to handle this frame; it was dropped');
    } catch {
      this.ws.terminate();
    }
  }

  /** ws found a protocol violation and closes with 1002/1007/1009 itself; counted by kind. */
  protocolViolation(code: string | undefined): void {
    const c = this.ctx.counters;
    if (code === 'WS_ERR_INVALID_UTF8') c.closedInvalidUtf8++;
    else if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') c.closedTooBig++;
    else c.closedProtocolError++;
  }

  private badFrame(code: ErrorCode, message: string, id?: number): void {
    this.ctx.counters.badFrames++;
    this.badInARow++;
    if (this.badInARow >= BAD_FRAMES_CLOSE) {
      this.ctx.counters.closedBadFrames++;
      this.closeWith(CloseCode.BAD_FRAMES, 'too many malformed frames');
      return;
    }
    this.sendError(code, message, id);
  }

  private handle(frame: ClientFrame): void {
    switch (frame.type) {
      case 'ping':
        this.answer(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
        return;
      case 'subscribe':
        this.subscribe(frame);
        return;
      case 'unsubscribe':
        this.unsubscribe(frame);
        return;
      case 'publish':
        this.publish(frame);
        return;
      case 'refresh':
        this.refresh(frame);
        return;
      case 'presence':
        this.presence(frame);
        return;
    }
  }

  private subscribe(frame: SubscribeFrame): void {
    const { channel, id } = frame;
    if (this.canUse && !this.canUse(channel)) {
      this.sendError('FG_ERR_FORBIDDEN_CHANNEL', this.forbidden(channel), id, channel);
      return;
    }
    this.subs ??= new Map();
    if (this.subs.has(channel)) {
      this.sendError('FG_ERR_ALREADY_SUBSCRIBED', `already subscribed to ${channel}`, id, channel);
      return;
    }
    if (this.subs.size >= this.ctx.settings.maxSubscriptions) {
      this.sendError('FG_ERR_TOO_MANY_SUBSCRIPTIONS', `at most ${this.ctx.settings.maxSubscriptions} subscriptions per connection`, id, channel);
      return;
    }
    const sub: SubState = { epoch: '', lastOffset: 0, pending: [], present: 0 };
    this.subs.set(channel, sub);
    this.ctx.hub.add(channel, this);
    if (frame.recover) this.ctx.counters.replayRequests++;
    // the broker is asked first: if it throws instead of rejecting, no answer slot is left open forever
    const answered = this.ctx.broker.recover(channel, frame.recover);
    const replies = (this.replies ??= new ReplyOrder());
    const slot = replies.reserve();
    answered.then(
      (answer) => replies.fill(slot, () => {
        if (this.subs?.get(channel) !== sub) return; // unsubscribed or closed meanwhile
        const reply: ServerFrame = { type: 'subscribed', channel, epoch: answer.epoch, offset: answer.offset };
        if (id !== undefined) reply.id = id;
        sub.epoch = answer.epoch;
        sub.lastOffset = answer.offset;
        if (frame.recover) {
          reply.recovered = answer.ok;
          if (answer.ok) {
            reply.replayed = answer.publications.length;
          } else {
            reply.reason = answer.reason;
            this.ctx.counters.recoveryFailures++;
          }
        }
        this.send(reply);
        if (!sub.unsubscribe) this.join(channel, sub);
        if (answer.ok && frame.recover) {
          for (const pub of answer.publications) this.write(pub.frame, buildTextFrame(pub.frame));
          this.ctx.counters.replayedMessages += answer.publications.length;
          if (answer.publications.length > 0) sub.lastOffset = answer.publications[answer.publications.length - 1].offset;
        }
        const pending = sub.pending!;
        sub.pending = undefined;
        for (const pub of pending) this.deliver(pub, buildTextFrame(pub.frame));
        if (sub.unsubscribe) this.unsubscribe(sub.unsubscribe);
        else if (sub.revoked) this.revoke(channel);
      }),
      (err: unknown) => replies.fill(slot, () => {
        if (this.subs?.get(channel) !== sub) return;
        this.subs.delete(channel);
        this.ctx.hub.remove(channel, this);
        this.ctx.counters.recoveryFailures++;
        const code = err instanceof FloodgateError && err.code === 'FG_ERR_TOO_MANY_CHANNELS' ? err.code : 'FG_ERR_RECOVERY_FAILED';
        this.sendError(code, `subscribe failed: ${(err as Error).message}`, id, channel);
        if (sub.unsubscribe) this.unsubscribe(sub.unsubscribe);
      }),
    ).catch((err: unknown) => this.failed(err)); // a throw in the answer must not become an unhandled rejection
  }

  /** The refusal of a channel the token does not allow, naming what its namespace requires. */
  private forbidden(channel: string): string {
    const needs = this.ctx.namespaces?.requirement(channel) ?? '';
    return `the token does not allow channel ${channel}${needs === '' ? '' : ` (${needs})`}`;
  }

  private unsubscribe(frame: UnsubscribeFrame): void {
    const sub = this.subs?.get(frame.channel);
    if (sub?.pending && !sub.unsubscribe) {
      // the subscribe is not answered yet: answer it first (every request with an id gets its
      // answer, in order), then this unsubscribe
      sub.unsubscribe = frame;
      return;
    }
    if (!this.subs?.delete(frame.channel)) {
      this.sendError('FG_ERR_NOT_SUBSCRIBED', `not subscribed to ${frame.channel}`, frame.id, frame.channel);
      return;
    }
    this.ctx.hub.remove(frame.channel, this);
    if (sub !== undefined) this.leave(frame.channel, sub);
    this.answer(frame.id === undefined ? { type: 'unsubscribed', channel: frame.channel } : { type: 'unsubscribed', id: frame.id, channel: frame.channel });
  }

  private publish(frame: PublishFrame): void {
    const { channel, id } = frame;
    if (this.ctx.ipLimits && !this.ctx.ipLimits.takePublish(this.ip, monoMs())) {
      this.ctx.counters.rateLimitedMessages++;
      this.sendError('FG_ERR_IP_RATE_LIMITED', `this address published more than ${this.ctx.settings.ipPublishRate}/s over all its connections (burst ${this.ctx.settings.ipPublishBurst}); publication dropped`, id, channel);
      return;
    }
    if (this.canUse && !this.canUse(channel)) {
      this.sendError('FG_ERR_FORBIDDEN_CHANNEL', this.forbidden(channel), id, channel);
      return;
    }
    const rules = this.ctx.namespaces?.rulesFor(channel);
    if (rules !== undefined && !rules.clientPublish) {
      this.ctx.counters.publishFailures++; // a refusal, counted with the other refused publishes
      this.sendError('FG_ERR_PUBLISH_FORBIDDEN', `channel ${channel} is in namespace ${rules.namespace}, where only the server publishes (POST /api/publish); publication dropped`, id, channel);
      return;
    }
    const options = frame.idempotencyKey === undefined && frame.seq === undefined
      ? undefined
      : { idempotencyKey: frame.idempotencyKey, publisher: frame.publisher, seq: frame.seq };
    // the broker is asked first: if it throws instead of rejecting, no answer slot is left open forever
    const accepted = this.ctx.broker.publish(channel, frame.data, options);
    const replies = (this.replies ??= new ReplyOrder());
    const slot = replies.reserve();
    accepted.then(
      (pos) => replies.fill(slot, () => {
        if (pos.duplicate) this.ctx.counters.duplicatePublishes++;
        else this.ctx.counters.publications++;
        if (id === undefined) return;
        const reply: ServerFrame = { type: 'published', id, channel, epoch: pos.epoch, offset: pos.offset };
        if (pos.duplicate) reply.duplicate = true;
        this.send(reply);
      }),
      (err: unknown) => replies.fill(slot, () => {
        this.ctx.counters.publishFailures++;
        // an error we cannot classify may have happened after the broker stored it
        const code = err instanceof FloodgateError ? err.code : 'FG_ERR_PUBLISH_UNKNOWN';
        this.sendError(code, (err as Error).message, id, channel);
      }),
    ).catch((err: unknown) => this.failed(err));
  }

  /** This connection in presence entries and join/leave frames: unique over all nodes. */
  get presenceClient(): string {
    return this.ctx.clientPrefix + this.id;
  }

  /** Subscribed: recorded in the channel's presence and announced, as the channel's rules say. */
  private join(channel: string, sub: SubState): void {
    const rules = this.ctx.presenceRules(channel);
    if (!rules.presence && !rules.joinLeave) return;
    sub.present = (rules.presence ? PRESENT_STORED : 0) | (rules.joinLeave ? PRESENT_ANNOUNCED : 0);
    this.ctx.broker.presenceJoin(channel, { client: this.presenceClient, sub: this.tokenSub }, { store: rules.presence, announce: rules.joinLeave });
  }

  /** Left the channel (unsubscribe, close): undoes exactly what join() did. */
  private leave(channel: string, sub: SubState): void {
    if (sub.present === 0) return;
    const change = { store: (sub.present & PRESENT_STORED) !== 0, announce: (sub.present & PRESENT_ANNOUNCED) !== 0 };
    sub.present = 0;
    this.ctx.broker.presenceLeave(channel, { client: this.presenceClient, sub: this.tokenSub }, change);
  }

  /** Who is on a channel: for its subscribers only, when the channel has presence on. */
  private presence(frame: PresenceRequestFrame): void {
    const { channel, id } = frame;
    if (!this.ctx.presenceRules(channel).presence) {
      this.sendError('FG_ERR_PRESENCE_OFF', `presence is off for channel ${channel}`, id, channel);
      return;
    }
    if (this.canUse && !this.canUse(channel)) {
      this.sendError('FG_ERR_FORBIDDEN_CHANNEL', `the token does not allow channel ${channel}`, id, channel);
      return;
    }
    const sub = this.subs?.get(channel);
    if (sub === undefined || sub.pending !== undefined) {
      this.sendError('FG_ERR_NOT_SUBSCRIBED', `presence of ${channel} is answered to its subscribers: subscribe first and wait for \`subscribed\``, id, channel);
      return;
    }
    this.ctx.counters.presenceRequests++;
    // the broker is asked first: if it throws instead of rejecting, no answer slot is left open forever
    const asked = this.ctx.broker.presence(channel, this.ctx.settings.presenceLimit);
    const replies = (this.replies ??= new ReplyOrder());
    const slot = replies.reserve();
    asked.then(
      (summary) => replies.fill(slot, () => {
        const reply: ServerFrame = id === undefined ? { type: 'presence', channel, ...summary } : { type: 'presence', id, channel, ...summary };
        this.send(reply);
      }),
      (err: unknown) => replies.fill(slot, () => {
        this.ctx.counters.presenceFailures++;
        const code = err instanceof FloodgateError ? err.code : 'FG_ERR_PRESENCE_UNAVAILABLE';
        this.sendError(code, (err as Error).message, id, channel);
      }),
    ).catch((err: unknown) => this.failed(err));
  }

  /** A new token for this connection: a new expiry and channel list, or an error (the old token stays). */
  private refresh(frame: RefreshFrame): void {
    const verify = this.ctx.verifyToken;
    if (verify === undefined) {
      this.sendError('FG_ERR_UNAUTHORIZED', 'this gateway checks no tokens: there is nothing to refresh', frame.id);
      return;
    }
    // JWT verification is asynchronous (jose): the answer keeps its place among the others
    const checked = verify(frame.token);
    const replies = (this.replies ??= new ReplyOrder());
    const slot = replies.reserve();
    checked.then((check) => replies.fill(slot, () => {
      // the connection's user is fixed at the upgrade (presence, join/leave and /api/disconnect name it)
      const reason = !check.ok ? check.reason : (check.sub ?? '') !== this.tokenSub ? `the token's sub ${subName(check.sub ?? '')} is not this connection's (${subName(this.tokenSub)}); a refresh renews the same user's token` : undefined;
      if (reason !== undefined || !check.ok) {
        this.ctx.counters.refreshFailures++;
        this.sendError('FG_ERR_UNAUTHORIZED', `refresh refused: ${reason}; the current token stays until it expires`, frame.id);
        return;
      }
      this.ctx.counters.refreshes++;
      this.tokenExp = check.exp;
      this.canUse = check.canUse;
      this.send(frame.id === undefined ? { type: 'refreshed', exp: check.exp } : { type: 'refreshed', id: frame.id, exp: check.exp });
      this.revalidate();
    })).catch((err: unknown) => this.failed(err));
  }

  /**
   * After a refresh: the subscriptions the new token no longer allows end now, each told with an
   * `unsubscribed` frame carrying FG_ERR_FORBIDDEN_CHANNEL (a new token must not keep what it
   * would not grant). A subscribe still waiting on the broker gets its answer first.
   */
  private revalidate(): void {
    const canUse = this.canUse;
    if (canUse === undefined || this.subs === undefined) return;
    for (const [channel, sub] of this.subs) {
      if (canUse(channel)) continue;
      if (sub.pending) sub.revoked = true;
      else this.revoke(channel);
    }
  }

  private revoke(channel: string): void {
    const sub = this.subs?.get(channel);
    if (sub === undefined || !this.subs!.delete(channel)) return;
    this.ctx.hub.remove(channel, this);
    this.leave(channel, sub);
    this.send({ type: 'unsubscribed', channel, code: 'FG_ERR_FORBIDDEN_CHANNEL', message: `the refreshed token does not allow channel ${channel}; unsubscribed` });
  }

  /** A publication on a channel this session holds; `wire` is the frame built once for all subscribers. */
  deliver(pub: Publication, wire: Buffer): void {
    const sub = this.subs?.get(pub.channel);
    if (!sub || this.closing) return;
    if (sub.pending) {
      sub.pending.push(pub);
      return;
    }
    if (pub.epoch === sub.epoch && pub.offset <= sub.lastOffset) return; // already sent (replay overlap)
    sub.epoch = pub.epoch;
    sub.lastOffset = pub.offset;
    this.write(pub.frame, wire);
  }

  /** A join or leave on a channel this session holds (not about itself); `wire` is built once for all. */
  deliverEvent(ev: PresenceEvent, wire: Buffer): void {
    const sub = this.subs?.get(ev.channel);
    // before the subscribe is answered the client does not know the channel yet: its view starts at `subscribed`
    if (!sub || sub.pending || this.closing || ev.client === this.presenceClient) return;
    this.write(ev.frame, wire);
  }

  private write(payload: Buffer, wire: Buffer): void {
    const limit = this.ctx.settings.maxBufferedBytes;
    if (this.ws.bufferedAmount > 4 * limit) {
      // far past the bound: stop buffering for it now rather than waiting for the sweep
      this.ctx.counters.closedSlowConsumer++;
      this.closeWith(CloseCode.SLOW_CONSUMER, 'slow consumer');
      return;
    }
    this.ctx.counters.messagesOut++;
    if (this.ctx.settings.compression) {
      this.ctx.counters.publicationWrites++;
      writePrebuilt(this.ws, wire, payload, true); // ws compresses message by message
      return;
    }
    const coalescer = this.ctx.coalescer;
    if (this.outFirst === undefined && this.wroteInTurn !== coalescer.turn) {
      // the first frame this turn: written now, while this connection's objects are at hand
      this.wroteInTurn = coalescer.turn;
      coalescer.wroteNow();
      this.ctx.counters.publicationWrites++;
      if (this.pingSoon) {
        this.pingSoon = false;
        this.lastPing = monoMs();
        writePrebuiltFrames(this.ws, [wire, PING_FRAME]);
      } else {
        writePrebuiltFrames(this.ws, wire);
      }
      return;
    }
    if (this.outFirst === undefined) {
      this.outFirst = wire;
      this.outBytes = wire.length;
      coalescer.enlist(this);
    } else {
      if (this.outMore === undefined) this.outMore = [this.outFirst, wire];
      else this.outMore.push(wire);
      this.outBytes += wire.length;
    }
    if (this.pingSoon) {
      // the ping rides in this turn's write, after the frame
      this.pingSoon = false;
      this.lastPing = monoMs();
      if (this.outMore === undefined) this.outMore = [this.outFirst, PING_FRAME];
      else this.outMore.push(PING_FRAME);
      this.outBytes += PING_FRAME.length;
    }
    if (this.outBytes >= MAX_BATCH_BYTES) this.flushOutbox();
  }

  /** A ping of its own (the sweep's, when no publication took one along); it keeps the order of queued frames. */
  ping(): void {
    this.pingSoon = false;
    if (this.ws.readyState !== 1) return;
    if (this.outFirst) this.flushOutbox();
    writePrebuiltFrames(this.ws, PING_FRAME);
  }

  /** Writes the frames queued this turn in one corked write; the coalescer calls it at the end of the turn. */
  flushOutbox(): void {
    const first = this.outFirst;
    if (first === undefined) return;
    const more = this.outMore;
    this.outFirst = undefined;
    this.outMore = undefined;
    this.outBytes = 0;
    if (this.ws.readyState !== 1) return;
    this.ctx.counters.publicationWrites++;
    writePrebuiltFrames(this.ws, more ?? first);
  }

  /** Called once when the socket has closed: leave every channel, free the slot. */
  dispose(): void {
    if (this.subs) {
      for (const [channel, sub] of this.subs) {
        this.ctx.hub.remove(channel, this);
        this.leave(channel, sub);
      }
      this.subs.clear();
    }
    this.ctx.sessionClosed(this);
  }
}

/** A token `sub` for a message: quoted and cut short, or "none". */
function subName(sub: string): string {
  return sub === '' ? 'none' : JSON.stringify(sub.length > 64 ? `${sub.slice(0, 64)}…` : sub);
}
