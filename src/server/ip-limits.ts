/**
 * Allowances per client IP address, so opening a new connection does not reset what a client may
 * do: a cap on connections held at once and a token bucket for publishes shared by all of the
 * address's connections. Both are off (0) by default: behind a proxy every client has the proxy's
 * address. Entries exist only while an address holds connections or has a bucket that is not yet
 * full again; the gateway's sweep drops the rest.
 */
/**
 * The address a client's allowance is kept under. An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`,
 * what a dual-stack listener reports for IPv4 peers) is its IPv4 address. An IPv6 address counts
 * by its /64 prefix: a host is usually given a whole /64 and can pick any address in it, so per
 * address a single client could open 2^64 allowances. Anything unparsable is its own key.
 */
export function ipKey(address: string | undefined): string {
  if (address === undefined) return '';
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!a.includes(':')) return a;
  const groups = ipv6Groups(a.replace(/%.*$/, ''));
  return groups === undefined ? a : `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a trailing dotted quad), or undefined. */
function ipv6Groups(a: string): number[] | undefined {
  let text = a;
  const quad = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (quad) {
    const b = quad.slice(1).map(Number);
    if (b.some((x) => x > 255)) return undefined;
    text = `${text.slice(0, quad.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const part = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

interface IpState {
  connections: number;
  /** Publish tokens in thousandths, refilled by elapsed time. */
  milliTokens: number;
  refilledAt: number;
}

export interface IpLimitSettings {
  maxConnectionsPerIp: number;
  ipPublishRate: number;
  ipPublishBurst: number;
}

export class IpLimits {
  private readonly byIp = new Map<string, IpState>();
  refusedConnections = 0;
  refusedPublishes = 0;

  constructor(private readonly s: IpLimitSettings) {}

  /** Whether any per-IP limit is on (the gateway skips all bookkeeping otherwise). */
  get active(): boolean {
    return this.s.maxConnectionsPerIp > 0 || this.s.ipPublishRate > 0;
  }

  get addresses(): number {
    return this.byIp.size;
  }

  private state(ip: string, now: number): IpState {
    let st = this.byIp.get(ip);
    if (st === undefined) {
      st = { connections: 0, milliTokens: this.s.ipPublishBurst * 1000, refilledAt: now };
      this.byIp.set(ip, st);
    }
    return st;
  }

  /** Takes a connection slot for `ip`; false when it holds maxConnectionsPerIp already. */
  connect(ip: string, now: number): boolean {
    const st = this.state(ip, now);
    if (this.s.maxConnectionsPerIp > 0 && st.connections >= this.s.maxConnectionsPerIp) {
      this.refusedConnections++;
      return false;
    }
    st.connections++;
    return true;
  }

  disconnected(ip: string): void {
    const st = this.byIp.get(ip);
    if (st !== undefined && st.connections > 0) st.connections--;
  }

  /** Takes one publish token of `ip` (`now` in ms); false when its bucket is empty. */
  takePublish(ip: string, now: number): boolean {
    if (this.s.ipPublishRate <= 0) return true;
    const st = this.state(ip, now);
    const full = this.s.ipPublishBurst * 1000;
    const credit = Math.floor((now - st.refilledAt) * this.s.ipPublishRate);
    if (credit > 0) {
      st.milliTokens = Math.min(full, st.milliTokens + credit);
      st.refilledAt = now;
    }
    if (st.milliTokens >= 1000) {
      st.milliTokens -= 1000;
      return true;
    }
    this.refusedPublishes++;
    return false;
  }

  /** Drops addresses that hold no connection and whose bucket has refilled: they are back to a fresh state. */
  sweep(now: number): void {
    const full = this.s.ipPublishBurst * 1000;
    for (const [ip, st] of this.byIp) {
      if (st.connections > 0) continue;
      const tokens = this.s.ipPublishRate > 0 ? st.milliTokens + (now - st.refilledAt) * this.s.ipPublishRate : full;
      if (tokens >= full) this.byIp.delete(ip);
    }
  }
}
