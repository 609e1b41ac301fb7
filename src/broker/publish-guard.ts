import { FloodgateError } from '../errors.js';
import type { Position, PublishOptions } from './broker.js';

/**
 * The in-process half of idempotent publish and publisher order (the memory broker, and through
 * it the IPC broker of `serve --workers`; the Redis broker does the same inside its Lua script).
 *
 * Per channel it remembers, for `windowMs`, each idempotencyKey's position and each publisher's
 * last applied `seq`. Entries are kept in Maps in the order they were written, which is the
 * order they expire in, so expiry pops from the front and never scans live entries.
 */
interface Seen extends Position {
  at: number;
}
interface Last {
  seq: number;
  at: number;
}
interface ChannelGuard {
  keys: Map<string, Seen>;
  publishers: Map<string, Last>;
}

export type GuardVerdict = { kind: 'new' } | { kind: 'duplicate'; position: Position };

export class PublishGuard {
  private readonly channels = new Map<string, ChannelGuard>();

  constructor(readonly windowMs: number) {}

  /** Before publishing: a duplicate's original position, or throws when `seq` is stale. */
  check(channel: string, o: PublishOptions | undefined, now: number): GuardVerdict {
    if (this.windowMs <= 0 || o === undefined) return { kind: 'new' };
    const g = this.channels.get(channel);
    if (g === undefined) return { kind: 'new' };
    this.expire(g, now);
    if (o.idempotencyKey !== undefined) {
      const seen = g.keys.get(o.idempotencyKey);
      if (seen !== undefined) return { kind: 'duplicate', position: { epoch: seen.epoch, offset: seen.offset } };
    }
    if (o.publisher !== undefined && o.seq !== undefined) {
      const last = g.publishers.get(o.publisher);
      if (last !== undefined && o.seq <= last.seq) throw outOfOrder(channel, o.publisher, o.seq, last.seq);
    }
    return { kind: 'new' };
  }

  /** After publishing: remember the key's position and the publisher's seq. */
  record(channel: string, o: PublishOptions | undefined, position: Position, now: number): void {
    if (this.windowMs <= 0 || o === undefined || (o.idempotencyKey === undefined && o.seq === undefined)) return;
    let g = this.channels.get(channel);
    if (g === undefined) {
      g = { keys: new Map(), publishers: new Map() };
      this.channels.set(channel, g);
    }
    if (o.idempotencyKey !== undefined) g.keys.set(o.idempotencyKey, { epoch: position.epoch, offset: position.offset, at: now });
    if (o.publisher !== undefined && o.seq !== undefined) {
      g.publishers.delete(o.publisher); // re-insert at the end: the newest expires last
      g.publishers.set(o.publisher, { seq: o.seq, at: now });
    }
  }

  /** Drops what is older than the window everywhere (called by the broker's periodic sweep). */
  sweep(now: number): void {
    for (const [name, g] of this.channels) {
      this.expire(g, now);
      if (g.keys.size === 0 && g.publishers.size === 0) this.channels.delete(name);
    }
  }

  get size(): number {
    let n = 0;
    for (const g of this.channels.values()) n += g.keys.size + g.publishers.size;
    return n;
  }

  private expire(g: ChannelGuard, now: number): void {
    const cutoff = now - this.windowMs;
    for (const [k, v] of g.keys) {
      if (v.at > cutoff) break;
      g.keys.delete(k);
    }
    for (const [k, v] of g.publishers) {
      if (v.at > cutoff) break;
      g.publishers.delete(k);
    }
  }
}

export function outOfOrder(channel: string, publisher: string, seq: number, last: number): FloodgateError {
  return new FloodgateError(
    'FG_ERR_PUBLISH_OUT_OF_ORDER',
    `publisher ${publisher} seq ${seq} is not above its last applied seq ${last} on ${channel}: a stale frame, not published`,
    { channel, publisher, seq, last },
  );
}
