/**
 * Decides, before any WebSocket work, whether an upgrade may proceed. A slot is taken while
 * live + handshaking connections are below the cap and handshakes in flight are below their
 * bound; otherwise the upgrade waits in a bounded FIFO queue up to the admission timeout; past
 * the queue bound or the timeout the caller answers 503. Everything here is O(1) per event.
 */

export type AdmissionOutcome = 'admitted' | 'queue_full' | 'timeout' | 'closed';

export interface AdmissionOptions {
  cap: number;
  queueLimit: number;
  timeoutMs: number;
  maxPendingHandshakes: number;
}

interface Waiter {
  done: (outcome: AdmissionOutcome) => void;
  timer: NodeJS.Timeout | undefined;
  cancelled: boolean;
  enqueuedAt: number;
}

export interface AdmissionCounters {
  admitted: number;
  admittedAfterWait: number;
  queueFull: number;
  timedOut: number;
  cancelledWhileWaiting: number;
}

export class Admission {
  readonly options: AdmissionOptions;
  live = 0;
  handshaking = 0;
  private readonly queue: Waiter[] = [];
  private queueHead = 0;
  private closed = false;
  readonly counters: AdmissionCounters = { admitted: 0, admittedAfterWait: 0, queueFull: 0, timedOut: 0, cancelledWhileWaiting: 0 };

  constructor(options: AdmissionOptions) {
    this.options = options;
  }

  /** Upgrades waiting for a slot now (timed-out and cancelled ones excluded). */
  waiting = 0;

  private hasRoom(): boolean {
    return this.live + this.handshaking < this.options.cap && this.handshaking < this.options.maxPendingHandshakes;
  }

  /**
   * Takes a slot at once when one is free and nobody waits (the common case): no callback and no
   * cancel function to allocate. False = go through request().
   */
  tryAdmit(): boolean {
    if (this.closed || this.waiting !== 0 || !this.hasRoom()) return false;
    this.handshaking++;
    this.counters.admitted++;
    return true;
  }

  /**
   * Calls `done` exactly once with the outcome. Returns a cancel function for when the
   * client goes away while waiting (its place is then given up and not counted as admitted).
   */
  request(done: (outcome: AdmissionOutcome) => void): () => void {
    if (this.closed) {
      done('closed');
      return noop;
    }
    if (this.waiting === 0 && this.hasRoom()) {
      this.handshaking++;
      this.counters.admitted++;
      done('admitted');
      return noop;
    }
    if (this.waiting >= this.options.queueLimit || this.options.timeoutMs === 0) {
      this.counters.queueFull++;
      done('queue_full');
      return noop;
    }
    const waiter: Waiter = { done, timer: undefined, cancelled: false, enqueuedAt: Date.now() };
    waiter.timer = setTimeout(() => {
      if (waiter.cancelled) return;
      waiter.cancelled = true;
      this.waiting--;
      this.counters.timedOut++;
      done('timeout');
    }, this.options.timeoutMs);
    if (this.queue.length - this.queueHead > 2 * this.waiting + 1024) this.compact();
    this.queue.push(waiter);
    this.waiting++;
    return () => {
      if (waiter.cancelled) return;
      waiter.cancelled = true;
      this.waiting--;
      clearTimeout(waiter.timer);
      this.counters.cancelledWhileWaiting++;
    };
  }

  /** The handshake of an admitted upgrade finished: its slot now holds a live connection. */
  handshakeSucceeded(): void {
    this.handshaking--;
    this.live++;
  }

  /** The handshake of an admitted upgrade failed (socket gone, bad request): free its slot. */
  handshakeFailed(): void {
    this.handshaking--;
    this.drain();
  }

  /** A live connection closed. */
  connectionClosed(): void {
    this.live--;
    this.drain();
  }

  private drain(): void {
    while (this.queueHead < this.queue.length && this.hasRoom()) {
      const w = this.queue[this.queueHead++];
      if (w.cancelled) continue;
      w.cancelled = true;
      this.waiting--;
      clearTimeout(w.timer);
      this.handshaking++;
      this.counters.admitted++;
      this.counters.admittedAfterWait++;
      w.done('admitted');
    }
    // drop timed-out/cancelled heads so the queue does not grow without bound
    while (this.queueHead < this.queue.length && this.queue[this.queueHead].cancelled) this.queueHead++;
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Timed-out waiters stay in the array until passed over; drop them when they pile up. */
  private compact(): void {
    const live = this.queue.slice(this.queueHead).filter((w) => !w.cancelled);
    this.queue.length = 0;
    this.queue.push(...live);
    this.queueHead = 0;
  }

  /** Shutdown: every waiter is answered `closed`; no new slot is given. */
  close(): void {
    this.closed = true;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const w = this.queue[i];
      if (w.cancelled) continue;
      w.cancelled = true;
      clearTimeout(w.timer);
      w.done('closed');
    }
    this.queue.length = 0;
    this.queueHead = 0;
    this.waiting = 0;
  }
}

function noop(): void {}
