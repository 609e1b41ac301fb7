/**
 * Gathers the publication frames a turn of the event loop produces for each socket and writes
 * them with one corked write (one `writev` system call) per socket at the end of the turn.
 *
 * Why: in fan-out almost all of the server's time is the `write` system call, one per subscriber
 * per message. When publications arrive faster than one per turn (a burst from a publisher, a
 * Redis read returning several), N frames for a subscriber cost two system calls instead of N.
 *
 * The first frame a socket gets in a turn is written at once (`writeNow`), not queued: at one
 * publication per turn (the common case) there is nothing to gather, and a second pass over
 * every subscriber at the end of the turn would only fetch their objects from memory again
 * (profiled: that pass cost more than the bookkeeping it carried). Frames that follow in the
 * same turn are queued and leave together at its end.
 *
 * The bound on latency is the turn itself: the flush runs in the same loop iteration
 * (`setImmediate` after the I/O callbacks that produced the frames), and a socket whose batch
 * passes `MAX_BATCH_BYTES` is written at once.
 */

/** A socket-owning object with an outbox this coalescer flushes. */
export interface Outbox {
  /** Writes whatever is queued; called once per turn in which something was queued. */
  flushOutbox(): void;
}

/** A batch larger than this is written at once rather than at the end of the turn. */
export const MAX_BATCH_BYTES = 64 * 1024;

export class WriteCoalescer {
  private due: Outbox[] = [];
  private spare: Outbox[] = [];
  private scheduled = false;
  /**
   * Counts turns in which something was written: a session that wrote in turn `turn` queues
   * what follows until the flush that ends the turn (and bumps the count).
   */
  turn = 1;
  private readonly flushAll = (): void => {
    this.scheduled = false;
    this.turn++;
    // swap lists: a flush that queues again (it should not, but a listener might) lands in the next turn
    const due = this.due;
    this.due = this.spare;
    for (let i = 0; i < due.length; i++) due[i].flushOutbox();
    due.length = 0;
    this.spare = due;
  };

  /** The outbox got its first queued frame this turn: flush it at the end of the turn. */
  enlist(outbox: Outbox): void {
    this.due.push(outbox);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /** A socket wrote its first frame of this turn directly: the turn must end with a flush so `turn` moves on. */
  wroteNow(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }
}
