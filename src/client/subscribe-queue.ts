import type { SubscribeFrame } from '../protocol/frames.js';
import type { Subscription } from './subscription.js';

/** Subscribe requests in flight at once. */
export const SUBSCRIBE_WINDOW = 32;

export interface PendingSubscribe {
  sub: Subscription;
  recovering: boolean;
  /** Sequence number of the send, to tell which requests came before a rate-limit error. */
  sentAt: number;
}

export interface SubscribeQueueDeps {
  send(frame: SubscribeFrame): void;
  takeId(): number;
  /** False once the subscription was removed from the client. */
  isCurrent(sub: Subscription): boolean;
  /** Backoff delay (ms) before retrying after the n-th rate-limited round. */
  delay(round: number): number;
}

/**
 * Sends (re)subscribe frames without tripping the server's rate limit: at most SUBSCRIBE_WINDOW
 * in flight, and a pause with backoff when the server answers FG_ERR_RATE_LIMITED. A reconnect
 * with hundreds of subscriptions would otherwise hit the token bucket, and `rateLimitClose`
 * limited frames in a row close the connection (4029) — a reconnect loop.
 *
 * The gateway answers a rate-limited frame with an `error` carrying the refused frame's `id`
 * (handled in refused()); older gateways sent none, and then the request it belonged to is
 * unknown: after the pause, every subscribe sent
 * before that error and still unanswered is sent again. If the first one was merely slow, the
 * server answers the second with FG_ERR_ALREADY_SUBSCRIBED, which is ignored here; the first
 * `subscribed` answer wins.
 */
export class SubscribeQueue {
  private queue: Subscription[] = [];
  private readonly pending = new Map<number, PendingSubscribe>();
  /** Subscriptions with a request in flight that counts against the window. */
  private readonly inflight = new Set<Subscription>();
  /** Ids of duplicate requests whose subscription was already answered: their answers are ignored. */
  private readonly retired = new Set<number>();
  private seq = 0;
  private pause: ReturnType<typeof setTimeout> | undefined;
  private limitedAt = -1;
  private rounds = 0;
  private active = false;

  constructor(private readonly deps: SubscribeQueueDeps) {}

  /** Subscribe requests waiting for an answer. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** A new connection: (re)subscribe all of these, in order. */
  start(subs: Iterable<Subscription>): void {
    this.clear();
    this.active = true;
    this.queue = [...subs];
    this.pump();
  }

  add(sub: Subscription): void {
    if (!this.active) return;
    this.queue.push(sub);
    this.pump();
  }

  remove(sub: Subscription): void {
    this.queue = this.queue.filter((s) => s !== sub);
    if (this.inflight.delete(sub)) this.pump();
  }

  /** The connection is gone: forget everything, clear the timer. */
  clear(): void {
    this.active = false;
    this.queue = [];
    this.pending.clear();
    this.inflight.clear();
    this.retired.clear();
    if (this.pause !== undefined) clearTimeout(this.pause);
    this.pause = undefined;
    this.limitedAt = -1;
    this.rounds = 0;
  }

  /** Whether an answer with this id belongs to a subscribe request of this connection. */
  owns(id: number): boolean {
    return this.pending.has(id) || this.retired.has(id);
  }

  /** A `subscribed` answer: the request to apply, or undefined when it is stale or a duplicate. */
  answered(id: number): PendingSubscribe | undefined {
    this.retired.delete(id);
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    this.forget(p.sub);
    this.pump();
    if (!this.deps.isCurrent(p.sub)) return undefined;
    return p;
  }

  /**
   * An `error` answer with an id. Returns the request when the error is for the application,
   * undefined when it was handled here (a retry, or a duplicate's ALREADY_SUBSCRIBED).
   */
  refused(id: number, code: string): PendingSubscribe | undefined {
    if (this.retired.delete(id)) return undefined;
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    const othersInFlight = [...this.pending.values()].some((q) => q.sub === p.sub);
    if (code === 'FG_ERR_ALREADY_SUBSCRIBED' && (othersInFlight || p.sub.state === 'subscribed')) return undefined;
    if (!othersInFlight) this.inflight.delete(p.sub);
    // rate-limited, or the broker could not serve it (Redis down in a failover): transient,
    // asked again after a backoff pause instead of waiting for the next reconnect
    if ((code === 'FG_ERR_RATE_LIMITED' || code === 'FG_ERR_RECOVERY_FAILED') && this.deps.isCurrent(p.sub)) {
      if (!othersInFlight) this.queue.unshift(p.sub);
      this.pauseFor();
      return undefined;
    }
    this.pump();
    return this.deps.isCurrent(p.sub) ? p : undefined;
  }

  /** An `error` FG_ERR_RATE_LIMITED without an id: some frame sent before now was dropped. */
  rateLimited(): void {
    if (!this.active) return;
    this.limitedAt = this.seq;
    this.pauseFor();
  }

  private pauseFor(): void {
    if (this.pause !== undefined) return;
    this.pause = setTimeout(() => {
      this.pause = undefined;
      this.resendSuspects();
      this.pump();
    }, this.deps.delay(this.rounds++));
  }

  /** Subscribes sent before the last id-less rate-limit error and still unanswered go again. */
  private resendSuspects(): void {
    if (this.limitedAt < 0) return;
    const suspects = new Set<Subscription>();
    const newer = new Set<Subscription>();
    for (const p of this.pending.values()) {
      if (p.sentAt <= this.limitedAt) suspects.add(p.sub);
      else newer.add(p.sub); // a request sent after the error is in flight: leave it be
    }
    this.limitedAt = -1;
    const again = [...suspects].filter((s) => !newer.has(s) && this.deps.isCurrent(s));
    for (const s of again) this.inflight.delete(s);
    this.queue.unshift(...again);
  }

  private pump(): void {
    if (!this.active || this.pause !== undefined) return;
    while (this.queue.length > 0 && this.inflight.size < SUBSCRIBE_WINDOW) {
      const sub = this.queue.shift() as Subscription;
      if (!this.deps.isCurrent(sub) || this.inflight.has(sub) || sub.state === 'subscribed') continue;
      this.send(sub);
    }
  }

  private send(sub: Subscription): void {
    const id = this.deps.takeId();
    const pos = sub.position;
    const frame: SubscribeFrame = pos === undefined ? { type: 'subscribe', id, channel: sub.channel } : { type: 'subscribe', id, channel: sub.channel, recover: pos };
    this.pending.set(id, { sub, recovering: pos !== undefined, sentAt: ++this.seq });
    this.inflight.add(sub);
    if (pos !== undefined) sub.stats.resubscribes++;
    this.deps.send(frame);
  }

  /** Drops every request of this subscription (the first answer settled it). */
  private forget(sub: Subscription): void {
    for (const [id, p] of this.pending) {
      if (p.sub !== sub) continue;
      this.pending.delete(id);
      this.retired.add(id);
    }
    this.inflight.delete(sub);
  }
}
