import type { PresenceFrame, PresenceSub } from '../protocol/frames.js';

/**
 * Presence as brokers hold it: one entry per subscribed connection (`client`, unique over all
 * nodes) with its token `sub` ('' = anonymous). Answers are built from the entries by
 * `summarizePresence`, the same way whichever broker collected them.
 */
export interface PresenceEntry {
  client: string;
  /** The connection's token `sub`; '' for a connection without one. */
  sub: string;
}

/** What a join or leave asks of the broker. */
export interface PresenceChange {
  /** Record (join) or remove (leave) the entry: the channel has presence on. */
  store: boolean;
  /** Deliver a `join` / `leave` frame to every node watching the channel: join/leave is on. */
  announce: boolean;
}

/** A join or leave arriving from the broker, with its frame encoded once for this node. */
export interface PresenceEvent {
  channel: string;
  /** The connection that joined or left (subscribers skip their own). */
  client: string;
  /** The encoded `join` / `leave` frame. */
  frame: Buffer;
}

export type PresenceSummary = Omit<PresenceFrame, 'type' | 'id' | 'channel'>;

/** Counts every entry, lists the distinct subs (sorted) up to `limit`. */
export function summarizePresence(subs: Iterable<string>, limit: number): PresenceSummary {
  let connections = 0;
  let anonymous = 0;
  const perSub = new Map<string, number>();
  for (const sub of subs) {
    connections++;
    if (sub === '') anonymous++;
    else perSub.set(sub, (perSub.get(sub) ?? 0) + 1);
  }
  const names = [...perSub.keys()].sort();
  const listed: PresenceSub[] = names.slice(0, limit).map((sub) => ({ sub, connections: perSub.get(sub)! }));
  return { connections, users: perSub.size, anonymous, subs: listed, truncated: names.length > listed.length };
}

/**
 * Entries of one process, per channel (the memory broker's store, and the IPC host's). A channel
 * whose last entry leaves is dropped: nothing is kept for channels nobody is present on.
 */
export class LocalPresence {
  private readonly channels = new Map<string, Map<string, string>>();

  add(channel: string, entry: PresenceEntry): void {
    let m = this.channels.get(channel);
    if (m === undefined) {
      m = new Map();
      this.channels.set(channel, m);
    }
    m.set(entry.client, entry.sub);
  }

  /** True when the entry was there. */
  remove(channel: string, client: string): boolean {
    const m = this.channels.get(channel);
    if (m === undefined || !m.delete(client)) return false;
    if (m.size === 0) this.channels.delete(channel);
    return true;
  }

  subs(channel: string): Iterable<string> {
    return this.channels.get(channel)?.values() ?? [];
  }

  /** Channels with at least one entry, and the entries over all of them. */
  get channelCount(): number {
    return this.channels.size;
  }

  get entryCount(): number {
    let n = 0;
    for (const m of this.channels.values()) n += m.size;
    return n;
  }
}
