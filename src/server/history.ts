/**
 * One channel's recent publications: a single ring shared by all subscribers (not a buffer per
 * client), bounded by count, bytes and age. Entries keep the encoded `message` frame, so a
 * replay writes exactly the bytes live subscribers got.
 *
 * The frame is kept as the JavaScript string it was encoded to, not as a Buffer: strings live in
 * V8's heap, which compacts and hands emptied pages back to the system, while Buffer bytes come
 * from the C allocator (glibc), which keeps freed chunks below anything still allocated after
 * them. Measured with the flood of issue 10: once every channel had expired, glibc still held
 * ~93 MB of the 64 MB history budget's Buffers; as strings the memory goes back.
 */

export interface HistoryEntry {
  offset: number;
  /** The encoded `message` frame (JSON text). */
  frame: string;
  /** Memory the frame takes, counted against the bounds: see heldBytes(). */
  size: number;
  at: number;
}

/**
 * Bytes a frame string holds: its UTF-8 size, which is its length for ASCII text (V8 stores it
 * one byte per character); other text may be stored two bytes per character, so it counts at
 * least that.
 */
export function heldBytes(text: string): number {
  const utf8 = Buffer.byteLength(text);
  return utf8 === text.length ? utf8 : Math.max(utf8, 2 * text.length);
}

export interface HistoryLimits {
  maxCount: number;
  maxBytes: number;
  /** 0 = no age bound. */
  ttlMs: number;
}

/**
 * History bounds per channel: one set for all, or a function of the channel name (channel
 * namespaces, src/auth/namespaces.ts). Brokers ask once per channel they create.
 */
export type HistoryPolicy = HistoryLimits | ((channel: string) => HistoryLimits);

export function historyResolver(policy: HistoryPolicy): (channel: string) => HistoryLimits {
  return typeof policy === 'function' ? policy : () => policy;
}

/** False when the bounds keep nothing: a recovery that missed anything answers `history_off`. */
export function keepsHistory(limits: HistoryLimits): boolean {
  return limits.maxCount > 0 && limits.maxBytes > 0;
}

/** Bytes held by every ring sharing it: the broker's process-wide history budget reads this. */
export interface HistoryMeter {
  bytes: number;
  /** Bytes dropped (trimmed, expired, evicted) since the owner last reset it: memory waiting to be given back. */
  dropped?: number;
}

export class HistoryRing {
  // Starts small and doubles up to maxCount: most channels never hold many messages.
  private slots: (HistoryEntry | undefined)[];
  private head = 0; // index of the oldest entry
  private count = 0;
  bytes = 0;

  constructor(private readonly limits: HistoryLimits, private readonly meter: HistoryMeter = { bytes: 0 }) {
    this.slots = new Array(Math.max(1, Math.min(16, limits.maxCount)));
  }

  get size(): number {
    return this.count;
  }

  /** Offset of the oldest entry kept, or undefined when empty. */
  oldestOffset(now = Date.now()): number | undefined {
    this.expire(now);
    return this.count === 0 ? undefined : this.slots[this.head]!.offset;
  }

  push(entry: HistoryEntry): void {
    if (this.limits.maxCount === 0 || entry.size > this.limits.maxBytes) return;
    if (this.count === this.slots.length) {
      if (this.slots.length < this.limits.maxCount) this.grow();
      else this.dropOldest();
    }
    this.slots[(this.head + this.count) % this.slots.length] = entry;
    this.count++;
    this.bytes += entry.size;
    this.meter.bytes += entry.size;
    while (this.bytes > this.limits.maxBytes && this.count > 0) this.dropOldest();
    this.expire(entry.at);
  }

  /** Entries with offset > `after`, oldest first. The caller checks that nothing before them was dropped. */
  since(after: number, now = Date.now()): HistoryEntry[] {
    this.expire(now);
    const out: HistoryEntry[] = [];
    for (let i = 0; i < this.count; i++) {
      const e = this.slots[(this.head + i) % this.slots.length]!;
      if (e.offset > after) out.push(e);
    }
    return out;
  }

  expire(now: number): void {
    if (this.limits.ttlMs === 0) return;
    const cutoff = now - this.limits.ttlMs;
    while (this.count > 0 && this.slots[this.head]!.at < cutoff) this.dropOldest();
  }

  /** Drops every entry (the history budget evicted this channel) and gives the slots back. */
  clear(): void {
    this.meter.bytes -= this.bytes;
    if (this.meter.dropped !== undefined) this.meter.dropped += this.bytes;
    this.bytes = 0;
    this.count = 0;
    this.head = 0;
    this.slots = new Array(1);
  }

  private grow(): void {
    const next: (HistoryEntry | undefined)[] = new Array(Math.min(this.limits.maxCount, this.slots.length * 2));
    for (let i = 0; i < this.count; i++) next[i] = this.slots[(this.head + i) % this.slots.length];
    this.slots = next;
    this.head = 0;
  }

  private dropOldest(): void {
    const e = this.slots[this.head]!;
    this.slots[this.head] = undefined;
    this.bytes -= e.size;
    this.meter.bytes -= e.size;
    if (this.meter.dropped !== undefined) this.meter.dropped += e.size;
    this.head = (this.head + 1) % this.slots.length;
    this.count--;
  }
}
