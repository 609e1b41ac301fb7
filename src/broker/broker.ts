import type { Json, RecoverPosition, RecoveryFailure } from '../protocol/frames.js';
import type { PresenceChange, PresenceEntry, PresenceEvent, PresenceSummary } from './presence.js';

/**
 * The gateway's message path goes through this interface only, so the embedded memory broker
 * and the Redis one (several processes or machines) are interchangeable. A broker assigns each
 * channel's dense offsets, keeps history, and hands every publication on a watched channel to
 * `onPublication` once per node, with its `message` frame already encoded.
 */

export interface Publication {
  channel: string;
  epoch: string;
  offset: number;
  /** The encoded `message` frame, built once per publication per node. */
  frame: Buffer;
}

export interface Position {
  epoch: string;
  offset: number;
}

/** What a publish may carry besides its data (docs/protocol.md, "Idempotent publish and publisher order"). */
export interface PublishOptions {
  idempotencyKey?: string;
  publisher?: string;
  seq?: number;
}

/** A publish's answer: `duplicate` when the idempotencyKey was seen and nothing new was published. */
export interface PublishAnswer extends Position {
  duplicate?: true;
}

export type RecoverAnswer =
  | { ok: true; epoch: string; offset: number; publications: Publication[] }
  | { ok: false; epoch: string; offset: number; reason: RecoveryFailure };

export interface BrokerStats {
  kind: string;
  healthy: boolean;
  channels: number;
  historyMessages: number;
  historyBytes: number;
  /** Memory broker: the process-wide history budget (0 = none) and how many channels lost their history to it. */
  historyMemory?: number;
  historyEvictions?: number;
  /** Memory broker: the channel cap (0 = none) and publishes/subscribes refused by it. */
  maxChannels?: number;
  channelsRefused?: number;
  /** The cap on idempotency keys + publisher seqs held within the window (0 = none), and publishes refused by it. */
  maxIdempotencyKeys?: number;
  idempotencyRefused?: number;
  /** Channels whose state was freed once idle and expired, and times dropped history was handed back to the system. */
  channelsFreed?: number;
  memoryReleases?: number;
  /** Memory broker: history bytes dropped and not yet handed back; they count against historyMemory until then. */
  historyPending?: number;
  lastError?: string;
  /** Presence entries (memory: all this process holds; IPC worker: the primary's, for every worker, as last reported; Redis: this node's own). */
  presenceEntries?: number;
}

export interface Broker {
  readonly kind: string;
  /** Set by the gateway before start(); called for every publication on a watched channel. */
  onPublication: (pub: Publication) => void;
  /**
   * Set by the gateway: publications on a watched channel were lost to this node and cannot be
   * read back (Redis lost them, or the epoch changed). Sessions must not go on as if nothing
   * happened: they are asked to reconnect and recover, and are then told `recovered: false`.
   */
  onGap?: (channel: string, reason: 'epoch_changed' | 'history_gone') => void;
  start(): Promise<void>;
  /**
   * Assigns the next offset, stores history, delivers — unless `idempotencyKey` was seen on the
   * channel within the idempotency window (then it answers the original position, `duplicate`),
   * or `seq` is not above the publisher's last applied one (FG_ERR_PUBLISH_OUT_OF_ORDER). Rejects
   * with FG_ERR_PUBLISH_FAILED (definitely not published) or FG_ERR_PUBLISH_UNKNOWN (maybe).
   */
  publish(channel: string, data: Json, options?: PublishOptions): Promise<PublishAnswer>;
  /**
   * This node has subscribers on the channel (called on the first one) / no longer has (the last
   * one left). `presenceEvents`: the channel has join/leave on, so its joins and leaves must reach
   * this node too (the Redis broker subscribes to them only then).
   */
  watch(channel: string, presenceEvents?: boolean): void;
  unwatch(channel: string): void;
  /**
   * The channel's position, and with `since` the publications after it — or why they cannot be
   * given. Publications delivered to onPublication while this is pending may overlap the answer;
   * the session drops duplicates by offset.
   */
  recover(channel: string, since?: RecoverPosition): Promise<RecoverAnswer>;
  /**
   * Set by the gateway: a `join` / `leave` on a watched channel, from any node (this one included:
   * a node hears its own through the broker, like the others).
   */
  onPresenceEvent: (ev: PresenceEvent) => void;
  /**
   * A connection finished subscribing (join) or left (leave). Fire and forget: a failure is
   * counted and logged, never thrown (the Redis broker re-adds its live entries on each refresh).
   */
  presenceJoin(channel: string, entry: PresenceEntry, change: PresenceChange): void;
  presenceLeave(channel: string, entry: PresenceEntry, change: PresenceChange): void;
  /** Who is on the channel over every node: counts, and the subs up to `limit`. Rejects with FG_ERR_PRESENCE_UNAVAILABLE. */
  presence(channel: string, limit: number): Promise<PresenceSummary>;
  stats(): BrokerStats;
  close(): Promise<void>;
}
