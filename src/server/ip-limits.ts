/**
 * Allowances per client IP address, so opening a new connection does not reset what a client may
 * do: a cap on connections held at once and a token bucket for publishes shared by all of the
 * address's connections. Both are off (0) by default: behind a proxy every client has the proxy's
 * address. Entries exist only while an address holds connections or has a bucket that is not yet
 * full again; the gateway's sweep drops the rest.
 */
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
