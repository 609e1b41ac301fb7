/**
 * Stops a client from hammering an endpoint that keeps failing. After `threshold` failed
 * connection attempts within `window` ms the circuit opens: no attempt is made for `cooldown`
 * ms. Then it half-opens: exactly one attempt is allowed; success closes the circuit, failure
 * opens it again for another cool-down. A successful connection clears the failure history.
 *
 * Pure bookkeeping (no timers): the client owns the one timer, so nothing here can leak.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit; 0 disables the breaker. */
  threshold: number;
  /** Failures older than this (ms) do not count. */
  window: number;
  /** How long the circuit stays open before one trial attempt (ms). */
  cooldown: number;
}

export type CircuitTransition =
  | { state: 'open'; failures: number; retryAt: number }
  | { state: 'half-open' }
  | { state: 'closed' };

export class CircuitBreaker {
  private _state: CircuitState = 'closed';
  /** Timestamps of the consecutive failures still inside the window. */
  private failures: number[] = [];
  private openedAt = 0;

  constructor(private readonly options: CircuitBreakerOptions) {}

  get state(): CircuitState {
    return this._state;
  }

  get failureCount(): number {
    return this.failures.length;
  }

  /** When an open circuit half-opens (ms since the epoch), else undefined. */
  get retryAt(): number | undefined {
    return this._state === 'open' ? this.openedAt + this.options.cooldown : undefined;
  }

  /** Records a failed attempt; returns the transition it caused, if any. */
  recordFailure(now: number): CircuitTransition | undefined {
    if (this.options.threshold <= 0) return undefined;
    if (this._state === 'half-open') return this.open(now);
    if (this._state === 'open') return undefined;
    const horizon = now - this.options.window;
    this.failures = this.failures.filter((t) => t > horizon);
    this.failures.push(now);
    if (this.failures.length >= this.options.threshold) return this.open(now);
    return undefined;
  }

  /** Records a successful connection. */
  recordSuccess(): CircuitTransition | undefined {
    this.failures = [];
    if (this._state === 'closed') return undefined;
    this._state = 'closed';
    return { state: 'closed' };
  }

  /** Moves an open circuit whose cool-down has passed to half-open. */
  tryHalfOpen(now: number): CircuitTransition | undefined {
    if (this._state !== 'open' || now < this.openedAt + this.options.cooldown) return undefined;
    this._state = 'half-open';
    return { state: 'half-open' };
  }

  reset(): void {
    this._state = 'closed';
    this.failures = [];
  }

  private open(now: number): CircuitTransition {
    this._state = 'open';
    this.openedAt = now;
    const failures = Math.max(this.failures.length, 1);
    this.failures = [];
    return { state: 'open', failures, retryAt: now + this.options.cooldown };
  }
}
