/**
 * Reconnect delays: exponential growth with jitter, so that many clients of a node that went
 * away do not come back in lockstep (the retry storms of ../shared/background/).
 *
 *   base(n)  = min(maxDelay, initialDelay · multiplier^n)      n = failed attempts so far (0, 1, …)
 *   partial: delay ∈ [base·(1 − jitter), min(maxDelay, base·(1 + jitter))]
 *   full:    delay ∈ [0, base]
 *
 * A server that answers 503 with `Retry-After: N` is waited for at least N seconds, plus up to
 * `jitter`·N so the refused clients do not all return in the same second.
 */
export type JitterMode = 'partial' | 'full';

export interface BackoffOptions {
  initialDelay: number;
  multiplier: number;
  maxDelay: number;
  jitter: number;
  jitterMode: JitterMode;
  /** Returns a number in [0, 1); injectable so tests can script it. */
  random: () => number;
}

export type DelayReason = 'backoff' | 'retry-after' | 'circuit-open';

export interface ChosenDelay {
  /** Failed attempts before this delay (0 for the first retry). */
  attempt: number;
  /** Milliseconds actually waited before the next attempt. */
  delay: number;
  /** Un-jittered exponential base for this attempt. */
  base: number;
  /** Inclusive bounds the delay was drawn from. */
  min: number;
  max: number;
  reason: DelayReason;
  /** Seconds of Retry-After, when the server sent one. */
  retryAfter?: number;
}

/** Longest Retry-After honoured, in seconds (the server's own setting stops at 3600). */
export const MAX_RETRY_AFTER_SECONDS = 3600;

export function backoffBase(o: Pick<BackoffOptions, 'initialDelay' | 'multiplier' | 'maxDelay'>, attempt: number): number {
  // Math.pow overflows to Infinity for large attempts; min() keeps it at maxDelay.
  return Math.min(o.maxDelay, o.initialDelay * Math.pow(o.multiplier, attempt));
}

export function backoffBounds(o: BackoffOptions, attempt: number): { base: number; min: number; max: number } {
  const base = backoffBase(o, attempt);
  if (o.jitterMode === 'full') return { base, min: 0, max: base };
  return { base, min: base * (1 - o.jitter), max: Math.min(o.maxDelay, base * (1 + o.jitter)) };
}

/** The delay before retry number `attempt + 1`. */
export function chooseDelay(o: BackoffOptions, attempt: number, retryAfterSeconds?: number): ChosenDelay {
  const { base, min, max } = backoffBounds(o, attempt);
  const r = clampUnit(o.random());
  const backoffDelay = min + (max - min) * r;
  if (retryAfterSeconds !== undefined && retryAfterSeconds > 0) {
    const floor = Math.min(retryAfterSeconds, MAX_RETRY_AFTER_SECONDS) * 1000;
    const raMax = floor * (1 + o.jitter);
    const raDelay = floor + (raMax - floor) * r;
    if (raDelay >= backoffDelay) {
      return { attempt, delay: Math.round(raDelay), base, min: floor, max: Math.ceil(raMax), reason: 'retry-after', retryAfter: retryAfterSeconds };
    }
    return { attempt, delay: Math.round(backoffDelay), base, min: Math.floor(min), max: Math.ceil(max), reason: 'backoff', retryAfter: retryAfterSeconds };
  }
  return { attempt, delay: Math.round(backoffDelay), base, min: Math.floor(min), max: Math.ceil(max), reason: 'backoff' };
}

/** Parses a Retry-After header: delta-seconds or an HTTP date. Undefined when absent or unusable. */
export function parseRetryAfter(value: string | string[] | null | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v === null) return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Math.min(Number(s), MAX_RETRY_AFTER_SECONDS);
  const date = Date.parse(s);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, Math.ceil((date - now) / 1000)), MAX_RETRY_AFTER_SECONDS);
}

function clampUnit(r: number): number {
  if (!(r >= 0)) return 0; // NaN, negatives
  return r >= 1 ? 1 : r;
}
