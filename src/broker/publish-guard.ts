import { FloodgateError } from '../errors.js';
import type { Position, PublishOptions } from './broker.js';

/**
 * The in-process half of idempotent publish and publisher order (the memory broker, and through
 * it the IPC broker of `serve --workers`; the Redis broker does the same inside its Lua script).
 *
 * It remembers, for `windowMs`, each idempotencyKey's position and each publisher's last applied
 * `seq`, per channel. All entries live in one Map in the order they were written, which is the
 * order they expire in: expiry pops from the front and never scans live entries, and the count
 * held is the Map's size, so `maxEntries` (maxIdempotencyKeys) is checked in O(1). A publish that
 * would add an entry past the cap is refused before anything is published.
 */
interface Entry {
  at: number;
  /** A key's position; undefined for a publisher's seq. */
  position?: Position;
  seq?: number;
}

export type GuardVerdict = { kind: 'new' } | { kind: 'duplicate'; position: Position };

export const DEFAULT_MAX_IDEMPOTENCY_KEYS = 1_000_000;

/** Channel names never hold a newline (CHANNEL_PATTERN), so `<channel>\n<k|p><id>` is unique. */
const keyOf = (channel: string, key: string): string => `${channel}\nk${key}`;
const publisherOf = (channel: string, publisher: string): string => `${channel}\np${publisher}`;

export class PublishGuard {
  private readonly entries = new Map<string, Entry>();
  /** Publishes refused because the cap was reached. */
  refused = 0;

  /** `maxEntries`: keys + publisher seqs held at once (0 = no cap). */
  constructor(readonly windowMs: number, readonly maxEntries = DEFAULT_MAX_IDEMPOTENCY_KEYS) {}

  /**
   * Before publishing: a duplicate's original position, or throws when `seq` is stale
   * (FG_ERR_PUBLISH_OUT_OF_ORDER) or when the entries it would add pass the cap
   * (FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS).
   */
  check(channel: string, o: PublishOptions | undefined, now: number): GuardVerdict {
    if (this.windowMs <= 0 || o === undefined) return { kind: 'new' };
    this.expire(now);
    let adds = 0;
    if (o.idempotencyKey !== undefined) {
      const seen = this.entries.get(keyOf(channel, o.idempotencyKey));
      if (seen !== undefined) return { kind: 'duplicate', position: { ...seen.position! } };
      adds++;
    }
    if (o.publisher !== undefined && o.seq !== undefined) {
      const last = this.entries.get(publisherOf(channel, o.publisher));
      if (last !== undefined && o.seq <= last.seq!) throw outOfOrder(channel, o.publisher, o.seq, last.seq!);
      if (last === undefined) adds++;
    }
    if (adds > 0 && this.maxEntries > 0 && this.entries.size + adds > this.maxEntries) {
      this.refused++;
      throw tooManyIdempotencyKeys(this.maxEntries, this.windowMs, 'the broker');
    }
    return { kind: 'new' };
  }

  /** After publishing: remember the key's position and the publisher's seq. */
  record(channel: string, o: PublishOptions | undefined, position: Position, now: number): void {
    if (this.windowMs <= 0 || o === undefined) return;
    if (o.idempotencyKey !== undefined) {
      const k = keyOf(channel, o.idempotencyKey);
      this.entries.delete(k);
      this.entries.set(k, { at: now, position: { epoch: position.epoch, offset: position.offset } });
    }
    if (o.publisher !== undefined && o.seq !== undefined) {
      const k = publisherOf(channel, o.publisher);
      this.entries.delete(k); // re-insert at the end: the newest expires last
      this.entries.set(k, { at: now, seq: o.seq });
    }
  }

  /** Drops what is older than the window (called by the broker's periodic sweep). */
  sweep(now: number): void {
    this.expire(now);
  }

  /** Keys and publisher seqs held. */
  get size(): number {
    return this.entries.size;
  }

  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    for (const [k, v] of this.entries) {
      if (v.at > cutoff) break;
      this.entries.delete(k);
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

export function tooManyIdempotencyKeys(max: number, windowMs: number, where: string): FloodgateError {
  return new FloodgateError(
    'FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS',
    `${where} holds maxIdempotencyKeys ${max} idempotency keys and publisher seqs (each kept for idempotencyWindow ${windowMs} ms); a publish with a new one is refused until older ones expire: not published`,
    { maxIdempotencyKeys: max },
  );
}
