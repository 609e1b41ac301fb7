/**
 * Keeps one connection's answers in the order its requests were processed. Some answers can go
 * at once (pong, errors, the rate-limit refusal) and some only when the broker has answered
 * (subscribed, published); without this, a burst of subscribes followed by a refused frame sent
 * the refusal — and the 4029 close — before the `subscribed` answers it followed.
 *
 * While nothing waits on the broker, run() calls straight through: the common path allocates
 * nothing. The queue exists only while an answer is outstanding.
 */
export interface ReplySlot {
  action: (() => void) | undefined;
}

export class ReplyOrder {
  private queue: ReplySlot[] | undefined;
  private head = 0;
  private flushing = false;

  /** No answer is outstanding. */
  get idle(): boolean {
    return this.queue === undefined;
  }

  /**
   * Runs `action` now when no earlier answer is outstanding (or when called from inside a slot
   * being flushed: it belongs to that answer), else right after the earlier ones.
   */
  run(action: () => void): void {
    if (this.queue === undefined || this.flushing) action();
    else this.queue.push({ action });
  }

  /** Holds the place of an answer that comes later; fill() it exactly once. */
  reserve(): ReplySlot {
    const slot: ReplySlot = { action: undefined };
    (this.queue ??= []).push(slot);
    return slot;
  }

  /** The answer for `slot` is ready: it runs as soon as everything before it has run. */
  fill(slot: ReplySlot, action: () => void): void {
    slot.action = action;
    this.flush();
  }

  private flush(): void {
    if (this.flushing) return; // the outer loop picks the slot up
    const q = this.queue;
    if (q === undefined) return;
    this.flushing = true;
    let failure: unknown;
    try {
      while (this.head < q.length) {
        const action = q[this.head].action;
        if (action === undefined) break; // still waiting on the broker
        q[this.head++].action = undefined;
        try {
          action();
        } catch (err) {
          failure ??= err; // later answers still go out; the first failure is reported below
        }
      }
      if (this.head === q.length) {
        this.queue = undefined;
        this.head = 0;
      }
    } finally {
      this.flushing = false;
    }
    if (failure !== undefined) throw failure;
  }
}
