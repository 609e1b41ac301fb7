import type { GatewayCounters } from './stats.js';

/** The refusal counters by the reason names /stats and /metrics use, grouped by the status clients saw. */
const REASONS: readonly { status: number; reason: string; counter: keyof GatewayCounters }[] = [
  { status: 503, reason: 'over_capacity', counter: 'rejectedOverCapacity' },
  { status: 503, reason: 'admission_timeout', counter: 'rejectedAdmissionTimeout' },
  { status: 503, reason: 'accept_timeout', counter: 'rejectedAcceptTimeout' },
  { status: 503, reason: 'fd_budget', counter: 'rejectedFdBudget' },
  { status: 503, reason: 'shutting_down', counter: 'rejectedShuttingDown' },
  { status: 401, reason: 'unauthorized', counter: 'rejectedUnauthorized' },
  { status: 403, reason: 'forbidden_origin', counter: 'rejectedForbiddenOrigin' },
];

export interface RejectionSummary {
  status: number;
  total: number;
  windowSeconds: number;
  reasons: Record<string, number>;
  /** "503 × 2,000 in the last 10 s: over_capacity 331, admission_timeout 1,669" */
  line: string;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/**
 * Refused upgrades, summed per window (10 s by default): a flood past the cap is thousands of
 * 503s a second, so one log line each would drown the log and cost the hot path; none at all
 * leaves the operator blind. The gateway calls tick() from its once-a-second sweep.
 */
export class RejectionLog {
  private last: Record<string, number>;
  private windowStart: number;

  constructor(
    private readonly counters: Readonly<GatewayCounters>,
    private readonly emit: (s: RejectionSummary) => void,
    private readonly windowMs = 10_000,
    now = Date.now(),
  ) {
    this.last = this.read();
    this.windowStart = now;
  }

  private read(): Record<string, number> {
    return Object.fromEntries(REASONS.map((r) => [r.reason, this.counters[r.counter] as number]));
  }

  /** Emits one summary per status with refusals once the window is over; returns them. */
  tick(now = Date.now(), force = false): RejectionSummary[] {
    if (!force && now - this.windowStart < this.windowMs) return [];
    const cur = this.read();
    const windowSeconds = Math.max(1, Math.round((now - this.windowStart) / 1000));
    const out: RejectionSummary[] = [];
    for (const status of [...new Set(REASONS.map((r) => r.status))]) {
      const reasons: Record<string, number> = {};
      for (const r of REASONS) {
        const d = cur[r.reason] - this.last[r.reason];
        if (r.status === status && d > 0) reasons[r.reason] = d;
      }
      const total = Object.values(reasons).reduce((a, b) => a + b, 0);
      if (total === 0) continue;
      const parts = Object.entries(reasons).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
      out.push({ status, total, windowSeconds, reasons, line: `${status} × ${fmt(total)} in the last ${windowSeconds} s: ${parts}` });
    }
    this.last = cur;
    this.windowStart = now;
    for (const s of out) this.emit(s);
    return out;
  }
}
