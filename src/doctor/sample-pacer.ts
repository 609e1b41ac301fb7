/** A socket-state read: with ESTABLISHED (`full`) or without (`light`, sock_diag only). */
export type SampleKind = 'full' | 'light';

/**
 * Paces a run's socket-state reads so that everything sampling costs stays within a share of the
 * generator's CPU by construction, whatever a read costs on this host: each read's own CPU is
 * measured and recorded here, and the next read is allowed only once the budget (share × the CPU
 * the generator has used so far) has room for everything spent plus another read like the last
 * ones. Reads that get dearer (more sockets, a loaded host) therefore come further apart, and the
 * interval the run actually got is what the evidence reports.
 *
 * Light reads (all states but ESTABLISHED) are most of them when the reader can make them: the
 * transient states (SYN-SENT, SYN-RECV, CLOSE-WAIT…) come and go, while ESTABLISHED, nearly all
 * the rows of a held run, peaks where the recorder forces a full read anyway (every attempt
 * settled, the planned end). One full read in `lightPerFull + 1` keeps its course visible.
 */
export class SamplePacer {
  /** CPU ms spent on sampling so far: reads, forced ones included, and the small per-tick reads. */
  spentMs = 0;
  private readonly mean: Record<SampleKind, number | undefined> = { full: undefined, light: undefined };
  private lightsSinceFull: number;

  constructor(readonly share: number, readonly lightPerFull = 3) {
    // a full read first, unless one is recorded before: its cost is the one worth knowing
    this.lightsSinceFull = lightPerFull;
    if (!(share > 0 && share < 1)) throw new RangeError(`Expected \`share\` to be a number between 0 and 1, got \`${share}\` (${typeof share})`);
  }

  /** A read made (paced or forced) and its CPU, ms. */
  record(kind: SampleKind, cpuMs: number): void {
    this.spentMs += cpuMs;
    const m = this.mean[kind];
    // a moving mean: the helper's CPU comes in 10 ms clock ticks, one read alone says little
    this.mean[kind] = m === undefined ? cpuMs : m * 0.7 + cpuMs * 0.3;
    if (kind === 'full') this.lightsSinceFull = 0;
    else this.lightsSinceFull++;
  }

  /** Sampling CPU that is not a state read (the accept queue, the server's /proc files). */
  addOverhead(cpuMs: number): void {
    this.spentMs += cpuMs;
  }

  /**
   * What a read of this kind is expected to cost, ms: the moving mean of those made (a light read
   * not yet seen: as a full one; nothing seen yet: 0, so the first read may pass the budget by its cost).
   */
  expected(kind: SampleKind): number {
    return this.mean[kind] ?? this.mean.full ?? 0;
  }

  /**
   * The read allowed now, or undefined while the budget has no room for it. `baseMs`: the
   * generator's CPU so far (or the wall time, for a share of one core); `lightCapable`: the reader
   * can leave ESTABLISHED out; `reserveMs`: what the reads still to be forced are expected to cost
   * (they come whatever the budget says, so the paced ones leave room for them).
   */
  next(baseMs: number, lightCapable: boolean, reserveMs = 0): SampleKind | undefined {
    const kind: SampleKind = lightCapable && this.lightsSinceFull < this.lightPerFull ? 'light' : 'full';
    return this.spentMs + reserveMs + this.expected(kind) <= this.share * baseMs ? kind : undefined;
  }
}
