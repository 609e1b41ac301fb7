import type { Redis } from 'ioredis';
import { FloodgateError } from '../errors.js';
import { encodeJoinLeave } from '../protocol/codec.js';
import { summarizePresence, type PresenceChange, type PresenceEntry, type PresenceSummary } from './presence.js';

/**
 * Presence through Redis, for the Redis broker. Keys per channel (same hash tag as the others):
 *   <prefix>{<channel>}:ph  hash  client → sub ('' = anonymous)
 *   <prefix>{<channel>}:pz  sorted set  client → expiry (ms, Redis clock)
 *   <prefix>{<channel>}:e   pub/sub channel of `join` / `leave` frames
 * Every node re-adds its own live entries every third of presenceTtl with a new expiry; a node
 * that dies stops doing so and its entries are dropped by the next read after they expire (and
 * the keys expire with the last entry). Times come from Redis (TIME), so node clocks need not agree.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS: hash, zset, events. ARGV: client, sub, ttl ms, '1' = store, frame ('' = announce nothing). */
export const PRESENCE_JOIN_SCRIPT = `${NOW}
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
if ARGV[5] ~= '' then redis.call('PUBLISH', KEYS[3], ARGV[5]) end
return 1
`;

/** KEYS: hash, zset, events. ARGV: client, '1' = stored, frame ('' = announce nothing). */
export const PRESENCE_LEAVE_SCRIPT = `
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if ARGV[3] ~= '' then redis.call('PUBLISH', KEYS[3], ARGV[3]) end
return 1
`;

/** KEYS: hash, zset. ARGV: ttl ms, then client, sub pairs: this node's live entries of the channel. */
export const PRESENCE_REFRESH_SCRIPT = `${NOW}
local exp = now + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], exp, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
`;

/** KEYS: hash, zset. Drops expired entries, returns the subs of the live ones. */
export const PRESENCE_READ_SCRIPT = `${NOW}
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 1, #gone do redis.call('HDEL', KEYS[1], gone[i]) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
return redis.call('HVALS', KEYS[1])
`;

interface PresenceCommands {
  fgPresenceJoin(h: string, z: string, e: string, client: string, sub: string, ttl: number, store: string, frame: string): Promise<number>;
  fgPresenceLeave(h: string, z: string, e: string, client: string, store: string, frame: string): Promise<number>;
  fgPresenceRefresh(h: string, z: string, ttl: number, ...pairs: string[]): Promise<number>;
  fgPresenceRead(h: string, z: string): Promise<string[]>;
}

/** Entries per refresh call: a channel with more is refreshed in several calls. */
const REFRESH_CHUNK = 500;

export interface RedisPresenceOptions {
  prefix: string;
  ttlMs: number;
  /** Counts and logs a failed command (the broker's health bookkeeping). */
  failed: (what: string, err: Error) => void;
}

export class RedisPresence {
  /** This node's entries of channels with presence on: refreshed until they leave. */
  private readonly own = new Map<string, Map<string, string>>();
  private readonly cmds: PresenceCommands;
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;
  /**
   * Reads waiting for the end of this event-loop turn, per channel: asks of the same turn share
   * one read (a reconnect wave asks at once). A read is sent after every join already issued, so
   * an ask still sees its own connection's entry.
   */
  private readonly reading = new Map<string, Promise<string[]>>();
  failures = 0;
  /** Presence reads sent to Redis (asks served by a read already in flight are not counted). */
  reads = 0;

  constructor(private readonly cmd: Redis, private readonly options: RedisPresenceOptions) {
    cmd.defineCommand('fgPresenceJoin', { numberOfKeys: 3, lua: PRESENCE_JOIN_SCRIPT });
    cmd.defineCommand('fgPresenceLeave', { numberOfKeys: 3, lua: PRESENCE_LEAVE_SCRIPT });
    cmd.defineCommand('fgPresenceRefresh', { numberOfKeys: 2, lua: PRESENCE_REFRESH_SCRIPT });
    cmd.defineCommand('fgPresenceRead', { numberOfKeys: 2, lua: PRESENCE_READ_SCRIPT });
    this.cmds = cmd as unknown as PresenceCommands;
  }

  keys(channel: string): { h: string; z: string; e: string } {
    const base = `${this.options.prefix}{${channel}}`;
    return { h: `${base}:ph`, z: `${base}:pz`, e: `${base}:e` };
  }

  start(): void {
    this.timer = setInterval(() => this.refresh(), Math.floor(this.options.ttlMs / 3));
    this.timer.unref();
  }

  get entries(): number {
    let n = 0;
    for (const m of this.own.values()) n += m.size;
    return n;
  }

  join(channel: string, entry: PresenceEntry, change: PresenceChange): void {
    if (change.store) {
      let m = this.own.get(channel);
      if (m === undefined) {
        m = new Map();
        this.own.set(channel, m);
      }
      m.set(entry.client, entry.sub);
    }
    const frame = change.announce ? encodeJoinLeave('join', channel, entry.client, entry.sub === '' ? undefined : entry.sub) : '';
    const k = this.keys(channel);
    // a join lost to an outage is stored again by the next refresh (it is in `own`)
    this.cmds.fgPresenceJoin(k.h, k.z, k.e, entry.client, entry.sub, this.options.ttlMs, change.store ? '1' : '', frame)
      .catch((err: Error) => this.fail('presence join', err));
  }

  leave(channel: string, entry: PresenceEntry, change: PresenceChange): void {
    if (change.store) {
      const m = this.own.get(channel);
      if (m?.delete(entry.client) && m.size === 0) this.own.delete(channel);
    }
    const frame = change.announce ? encodeJoinLeave('leave', channel, entry.client, entry.sub === '' ? undefined : entry.sub) : '';
    const k = this.keys(channel);
    // a leave lost to an outage: the entry is no longer refreshed and expires within ttl
    this.cmds.fgPresenceLeave(k.h, k.z, k.e, entry.client, change.store ? '1' : '', frame)
      .catch((err: Error) => this.fail('presence leave', err));
  }

  async read(channel: string, limit: number, ready: boolean): Promise<PresenceSummary> {
    if (!ready) throw new FloodgateError('FG_ERR_PRESENCE_UNAVAILABLE', 'redis broker unavailable; presence cannot be read');
    let subs: string[];
    try {
      let read = this.reading.get(channel);
      if (read === undefined) {
        read = new Promise<void>((r) => setImmediate(r)).then(() => {
          this.reading.delete(channel);
          const k = this.keys(channel);
          this.reads++;
          return this.cmds.fgPresenceRead(k.h, k.z);
        });
        this.reading.set(channel, read);
      }
      subs = await read;
    } catch (err) {
      this.fail('presence read', err as Error);
      throw new FloodgateError('FG_ERR_PRESENCE_UNAVAILABLE', `redis broker: ${(err as Error).message}; presence not read`);
    }
    return summarizePresence(subs, limit);
  }

  /** Re-adds every live entry of this node with a fresh expiry (one pipeline). */
  refresh(): void {
    if (this.refreshing || this.own.size === 0 || this.cmd.status !== 'ready') return;
    this.refreshing = true;
    const pipeline = this.cmd.pipeline() as unknown as PresenceCommands & { exec(): Promise<unknown> };
    for (const [channel, m] of this.own) {
      const k = this.keys(channel);
      let pairs: string[] = [];
      for (const [client, sub] of m) {
        pairs.push(client, sub);
        if (pairs.length >= 2 * REFRESH_CHUNK) {
          void pipeline.fgPresenceRefresh(k.h, k.z, this.options.ttlMs, ...pairs);
          pairs = [];
        }
      }
      if (pairs.length > 0) void pipeline.fgPresenceRefresh(k.h, k.z, this.options.ttlMs, ...pairs);
    }
    pipeline.exec().then(
      (results) => {
        this.refreshing = false;
        const err = (results as [Error | null, unknown][] | null)?.find((r) => r[0] !== null)?.[0];
        if (err) this.fail('presence refresh', err);
      },
      (err: Error) => {
        this.refreshing = false;
        this.fail('presence refresh', err);
      },
    );
  }

  /** On shutdown: this node's entries go now rather than at their expiry. */
  async removeOwn(): Promise<void> {
    clearInterval(this.timer);
    if (this.own.size === 0 || this.cmd.status !== 'ready') return;
    const pipeline = this.cmd.pipeline();
    for (const [channel, m] of this.own) {
      const k = this.keys(channel);
      const clients = [...m.keys()];
      pipeline.hdel(k.h, ...clients);
      pipeline.zrem(k.z, ...clients);
    }
    this.own.clear();
    await pipeline.exec().catch(() => {});
  }

  private fail(what: string, err: Error): void {
    this.failures++;
    this.options.failed(what, err);
  }
}
