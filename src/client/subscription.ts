import type { FloodgateError } from '../errors.js';
import type { JoinLeaveFrame, Json, MessageFrame, RecoverPosition, RecoveryFailure, SubscribedFrame } from '../protocol/frames.js';
import type { PresenceResult } from './presence-requests.js';
import { TypedEmitter } from './emitter.js';

export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

export interface MessageEvent {
  channel: string;
  epoch: string;
  offset: number;
  data: Json;
}

/** The server's answer to a (re)subscribe. `recovered` is present when the client asked to recover. */
export interface SubscribedEvent {
  channel: string;
  epoch: string;
  offset: number;
  /** True when this subscribe carried `recover` (a resubscribe after a reconnect, or `since`). */
  recovering: boolean;
  recovered?: boolean;
  /** Why the missed messages could not be replayed: reload your state from its source of truth. */
  reason?: RecoveryFailure;
  /** How many missed messages follow (when recovered). */
  replayed?: number;
}

/** A hole in the offsets the server promised not to leave (counted; delivery continues). */
export interface GapEvent {
  channel: string;
  epoch: string;
  after: number;
  next: number;
}

/** Another connection subscribed to (`join`) or left (`leave`) the channel; only on channels with join/leave on. */
export interface JoinLeaveEvent {
  channel: string;
  /** The connection, unique over all nodes. */
  client: string;
  /** Its token `sub`; absent for an anonymous connection. */
  sub?: string;
}

export interface SubscriptionEvents {
  message: MessageEvent;
  join: JoinLeaveEvent;
  leave: JoinLeaveEvent;
  subscribed: SubscribedEvent;
  state: { oldState: SubscriptionState; newState: SubscriptionState };
  gap: GapEvent;
  error: FloodgateError;
}

export interface SubscriptionStats {
  delivered: number;
  duplicatesDropped: number;
  gaps: number;
  /** Subscribe frames sent with `recover`. */
  resubscribes: number;
}

/** Internal hooks the client gives a subscription (kept off the public surface). */
export interface SubscriptionOwner {
  unsubscribeFromClient(sub: Subscription): void;
  presence(channel: string): Promise<PresenceResult>;
}

/**
 * One channel on a client. Remembers the epoch and offset of the last message it delivered;
 * the client resubscribes with them after a reconnect. Delivers each offset at most once and in
 * order: anything at or below the last offset in the same epoch is dropped.
 */
export class Subscription extends TypedEmitter<SubscriptionEvents> {
  readonly channel: string;
  private _state: SubscriptionState = 'unsubscribed';
  private _epoch: string | undefined;
  private _offset = 0;
  readonly stats: SubscriptionStats = { delivered: 0, duplicatesDropped: 0, gaps: 0, resubscribes: 0 };

  /** @internal use client.subscribe() */
  constructor(private readonly owner: SubscriptionOwner, channel: string, since?: RecoverPosition) {
    super();
    this.channel = channel;
    if (since !== undefined) {
      this._epoch = since.epoch;
      this._offset = since.offset;
    }
  }

  get state(): SubscriptionState {
    return this._state;
  }

  /** Epoch of the last delivered message (or of the subscribe answer). */
  get epoch(): string | undefined {
    return this._epoch;
  }

  /** Offset of the last delivered message (or the channel's offset when subscribed). */
  get offset(): number {
    return this._offset;
  }

  /** Where a resubscribe recovers from, if anything was seen yet. */
  get position(): RecoverPosition | undefined {
    return this._epoch === undefined ? undefined : { epoch: this._epoch, offset: this._offset };
  }

  unsubscribe(): void {
    this.owner.unsubscribeFromClient(this);
  }

  /** Who is subscribed to this channel (see client.presence()). */
  presence(): Promise<PresenceResult> {
    return this.owner.presence(this.channel);
  }

  /** @internal */
  _joinLeave(f: JoinLeaveFrame): void {
    const ev: JoinLeaveEvent = f.sub === undefined ? { channel: f.channel, client: f.client } : { channel: f.channel, client: f.client, sub: f.sub };
    this.emit(f.type, ev);
  }

  /** @internal */
  _setState(next: SubscriptionState): void {
    if (next === this._state) return;
    const oldState = this._state;
    this._state = next;
    this.emit('state', { oldState, newState: next });
  }

  /** @internal */
  _onSubscribed(f: SubscribedFrame, recovering: boolean): SubscribedEvent {
    const ev: SubscribedEvent = { channel: this.channel, epoch: f.epoch, offset: f.offset, recovering };
    if (recovering) {
      ev.recovered = f.recovered === true;
      if (f.recovered !== true) ev.reason = f.reason ?? 'unavailable';
      else ev.replayed = f.replayed ?? 0;
    }
    // Without a successful recovery, start from the channel's current position: the
    // application was told (recovered: false) to reload its state.
    if (!recovering || f.recovered !== true) {
      // epoch '' = the server could not tell the position (`unavailable` with nothing seen):
      // no position until the next message, which is then taken as the start
      this._epoch = f.epoch === '' ? undefined : f.epoch;
      this._offset = f.epoch === '' ? 0 : f.offset;
    }
    this._setState('subscribed');
    this.emit('subscribed', ev);
    return ev;
  }

  /** @internal Returns the event when delivered, undefined when dropped as a duplicate. */
  _deliver(f: MessageFrame): MessageEvent | undefined {
    if (f.epoch === this._epoch) {
      if (f.offset <= this._offset) {
        this.stats.duplicatesDropped++;
        return undefined;
      }
      if (f.offset !== this._offset + 1) {
        this.stats.gaps++;
        this.emit('gap', { channel: this.channel, epoch: f.epoch, after: this._offset, next: f.offset });
      }
    }
    this._epoch = f.epoch;
    this._offset = f.offset;
    this.stats.delivered++;
    const ev: MessageEvent = { channel: f.channel, epoch: f.epoch, offset: f.offset, data: f.data };
    this.emit('message', ev);
    return ev;
  }

  /** @internal */
  _error(err: FloodgateError): void {
    this.emit('error', err);
  }
}
