/**
 * Wire frames of the Floodgate protocol (docs/protocol.md). JSON text frames, one object each,
 * discriminated by `type`. Shared by the server, the client SDK and the load generator.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface RecoverPosition {
  epoch: string;
  offset: number;
}

// client → server
export interface SubscribeFrame {
  type: 'subscribe';
  id?: number;
  channel: string;
  recover?: RecoverPosition;
}
export interface UnsubscribeFrame {
  type: 'unsubscribe';
  id?: number;
  channel: string;
}
export interface PublishFrame {
  type: 'publish';
  id?: number;
  channel: string;
  data: Json;
  /** 1–64 characters: within the server's idempotencyWindow the same key on the same channel is published once. */
  idempotencyKey?: string;
  /** 1–64 characters naming one publisher (the SDK: one per client); `seq` is checked per publisher and channel. */
  publisher?: string;
  /** The publisher's sequence number, increasing: a frame whose seq is not above the last applied one is refused. */
  seq?: number;
}
export interface PingFrame {
  type: 'ping';
  id?: number;
}
/** A new token for this connection, before the current one expires (answered `refreshed` or `error`). */
export interface RefreshFrame {
  type: 'refresh';
  id?: number;
  token: string;
}
/** Who is on a channel the connection is subscribed to (answered `presence` or `error`). */
export interface PresenceRequestFrame {
  type: 'presence';
  id?: number;
  channel: string;
}
export type ClientFrame = SubscribeFrame | UnsubscribeFrame | PublishFrame | PingFrame | RefreshFrame | PresenceRequestFrame;

// server → client
export interface WelcomeFrame {
  type: 'welcome';
  node: string;
  session: string;
  pingInterval: number;
  maxPayload: number;
  /** The connection's token bucket: clients pace themselves by these. */
  rateBurst: number;
  rateRefill: number;
  /** ms for which an idempotencyKey is remembered (0 = publishes are not deduplicated). */
  idempotencyWindow?: number;
  /** Expiry of the connection's token (seconds since the epoch), when the gateway checks tokens. */
  exp?: number;
}

/**
 * `history_off`: the channel keeps no history (its namespace, or the top-level settings, set
 * historySize or historyBytes to 0), so missed messages can never be replayed.
 */
export type RecoveryFailure = 'epoch_changed' | 'history_gone' | 'history_off' | 'offset_ahead' | 'unavailable';

export interface SubscribedFrame {
  type: 'subscribed';
  id?: number;
  channel: string;
  epoch: string;
  /** The channel's latest offset at the moment of subscribing (0 when nothing was published). */
  offset: number;
  /** Present when the subscribe asked to recover. */
  recovered?: boolean;
  /** Number of `message` frames that follow this one and replay the missed publications. */
  replayed?: number;
  /** Why recovery was not possible, when `recovered` is false. */
  reason?: RecoveryFailure;
}
export interface MessageFrame {
  type: 'message';
  channel: string;
  epoch: string;
  offset: number;
  data: Json;
}
export interface PublishedFrame {
  type: 'published';
  id?: number;
  channel: string;
  epoch: string;
  offset: number;
  /** The idempotencyKey was seen within the window: this is the original publication's position, nothing new was published. */
  duplicate?: true;
}
export interface UnsubscribedFrame {
  type: 'unsubscribed';
  id?: number;
  channel: string;
  /**
   * Only on an unsubscribe the server decided (no `id`): why, e.g. FG_ERR_FORBIDDEN_CHANNEL when
   * a `refresh` brought a token that no longer allows the channel.
   */
  code?: string;
  message?: string;
}
export interface PongFrame {
  type: 'pong';
  id?: number;
}
export interface RefreshedFrame {
  type: 'refreshed';
  id?: number;
  /** The new expiry, seconds since the Unix epoch. */
  exp: number;
}
/** One `sub` (token subject) present on a channel, with how many of its connections are subscribed. */
export interface PresenceSub {
  sub: string;
  connections: number;
}
/** The answer to a `presence` request: counts over every node, and the subs listed up to presenceLimit. */
export interface PresenceFrame {
  type: 'presence';
  id?: number;
  channel: string;
  /** Subscribed connections, anonymous ones included. */
  connections: number;
  /** Distinct `sub`s among them. */
  users: number;
  /** Connections without a token `sub`. */
  anonymous: number;
  /** The subs, sorted by name, at most presenceLimit of them. */
  subs: PresenceSub[];
  /** True when `users` is larger than the number of subs listed. */
  truncated: boolean;
}
/** A connection subscribed to (`join`) or left (`leave`) a channel with join/leave messages on. */
export interface JoinLeaveFrame {
  type: 'join' | 'leave';
  channel: string;
  /** The connection, unique over all nodes (node/session). */
  client: string;
  /** The connection's token `sub`; absent for an anonymous connection. */
  sub?: string;
}
export interface ErrorFrame {
  type: 'error';
  id?: number;
  code: string;
  message: string;
  channel?: string;
}
export type ServerFrame =
  | WelcomeFrame
  | SubscribedFrame
  | MessageFrame
  | PublishedFrame
  | UnsubscribedFrame
  | PongFrame
  | RefreshedFrame
  | PresenceFrame
  | JoinLeaveFrame
  | ErrorFrame;

/** Longest idempotencyKey and publisher id. */
export const MAX_KEY_LENGTH = 64;

/**
 * Whether `s` holds a UTF-16 surrogate half without its partner. Keys with one are refused: Redis
 * stores them as UTF-8, where every lone surrogate becomes U+FFFD, so two different keys would be
 * one there. A loop, not a regular expression with lookbehind: the SDK runs in older browsers too.
 */
export function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const next = s.charCodeAt(i + 1); // NaN past the end
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    return true;
  }
  return false;
}

export const CHANNEL_PATTERN = /^[A-Za-z0-9_\-:.@/]{1,128}$/;
