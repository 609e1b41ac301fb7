import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/**
 * Gives memory the gateway has let go of back to the system, now rather than at V8's leisure.
 *
 * History frames are strings in V8's old generation (history.ts): the pages they filled are
 * given back only after a full garbage collection has found them dead, and V8 schedules that by
 * heap growth, so an idle process may not collect at all. Measured with the flood of issue 10
 * (then with Buffer frames, whose bytes V8 frees the same way): 70 MB of expired, unreferenced
 * history stayed allocated indefinitely. The broker calls this after it dropped a large amount
 * of history at once (budget evictions, expiry sweep), which is rare by construction: it costs
 * one full collection per `releaseAfter` bytes dropped, never one per publication.
 */

let collect: (() => void) | undefined | null = null;

/** V8's collector, exposed once for this process (undefined where the runtime refuses). */
function collector(): (() => void) | undefined {
  if (collect !== null) return collect;
  try {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') collect = exposed;
    else {
      setFlagsFromString('--expose-gc');
      const fn = runInNewContext('gc') as unknown;
      collect = typeof fn === 'function' ? (fn as () => void) : undefined;
    }
  } catch {
    collect = undefined;
  }
  return collect;
}

/** A memory-reducing collection at most this often (it blocks ~75-130 ms on Node 22/24). */
const REDUCE_EVERY_MS = 30_000;
let reducedAt = -Infinity;

/**
 * Runs a full collection; false when the runtime offers none. With `reduce` (most of the history
 * just went away: the gateway is going idle), at most every REDUCE_EVERY_MS it is V8's
 * memory-reducing kind (`flavor: 'last-resort'`): on Node 22 and 24 a plain full collection
 * frees the pages but keeps them, so RSS stayed ~80 MB above its start after the flood of
 * issue 10 had expired; this one gives them back (Node 20 gives them back either way).
 */
export function releaseMemory(reduce = false): boolean {
  const gc = collector() as ((options?: { type: 'major'; execution: 'sync'; flavor?: 'regular' | 'last-resort' }) => void) | undefined;
  if (gc === undefined) return false;
  const now = performance.now();
  if (reduce && now - reducedAt >= REDUCE_EVERY_MS) {
    reducedAt = now;
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  } else {
    gc();
  }
  return true;
}

/**
 * V8's young generation (where new objects are allocated) starts at ~1 MiB and doubles while
 * allocation is heavy, up to 32 MiB (two 16 MiB semi-spaces): a burst of handshakes or a flood of
 * publishes grows it, and V8 shrinks it only at a collection that finds the allocation rate low,
 * which an idle gateway never runs. Measured with 15,000 idle connections: ~0.9 KiB of the RSS
 * per connection was that grown young generation, kept indefinitely.
 *
 * `youngGeneration` (docs/configuration.md):
 *  - `small` (default): the young generation never grows (V8's `--semi-space-growth-factor=1`,
 *    set at start): least memory during floods, more scavenges per handshake and per publish.
 *    The default since the flood of issue 10 (200 connections × 100 publishes of 10 KB): with
 *    `grow` the young generation is up to 31 MiB of the peak's RSS. Its price, measured by the
 *    memory suite in one run against `grow`: server CPU per publish about the same with 1 KB and
 *    10 KB payloads, +12 % with 60 KB ones; per handshake none measurable.
 *  - `grow`: V8's default growth, so floods run with fewer scavenges; once the process has been
 *    quiet for a few seconds, YoungGenerationRelease asks V8 for one minor collection, at which V8
 *    shrinks the young generation back to its start size and hands the pages back.
 * A `--max-semi-space-size`, `--semi-space-growth-factor` or `--min-semi-space-size` given to
 * Node (command line or NODE_OPTIONS) wins: the setting then leaves V8 alone.
 */
export type YoungGenerationMode = 'grow' | 'small';

const YOUNG_FLAGS = /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor/;

/** The semi-space flag Node was started with (command line or NODE_OPTIONS), if any. */
export function youngGenerationFlag(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string | undefined {
  for (const a of [...execArgv, ...nodeOptions.split(/\s+/)]) if (YOUNG_FLAGS.test(a)) return a;
  return undefined;
}

/**
 * Applies the setting to this process's V8 (process-wide: the last gateway started in a process
 * decides); returns what is in effect, in words, for the startup block.
 */
export function applyYoungGeneration(mode: YoungGenerationMode): string {
  const given = youngGenerationFlag();
  if (given !== undefined) return `set by Node's own flag ${given} (the setting is ignored)`;
  try {
    setFlagsFromString(mode === 'small' ? '--semi-space-growth-factor=1' : '--semi-space-growth-factor=2');
  } catch {
    return `${mode} could not be applied (the runtime refused the V8 flag); Node's default growth`;
  }
  return mode === 'small'
    ? 'small: stays at its start size (V8 --semi-space-growth-factor=1)'
    : 'grow: grows under load, given back after a few quiet seconds';
}

/** Size of V8's young generation (new space) now, bytes. */
export function youngGenerationBytes(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_size;
  return 0;
}

/** Young generation at or below this is not worth a collection (V8 starts it at 1 MiB, a grown one is 32 MiB). */
const YOUNG_RELEASE_ABOVE = 4 * 1024 ** 2;
/** The event loop busy less than this share of a second counts as a quiet second. */
const QUIET_UTILIZATION = 0.1;
/** Quiet seconds in a row before the first collection, and between the next ones. */
const QUIET_SECONDS = 2;
/** Collections that gave nothing back before the pace drops to one per BACKOFF_SECONDS. */
const TRIES = 5;
const BACKOFF_SECONDS = 30;

/**
 * Gives a grown young generation back once the process is quiet. Called on the gateway's
 * one-second sweep; after QUIET_SECONDS quiet seconds in a row it asks for one minor collection
 * (a minor collection of a quiet process takes about a millisecond), and again every
 * QUIET_SECONDS while the young generation is still grown and the process still quiet: V8 judges
 * its allocation rate over the last 5 s from what it saw at each collection, so the first one
 * after a burst may still see the burst (Node 20 needs a few; Node 24 shrinks at the first).
 * Never while the event loop is busy.
 */
export class YoungGenerationRelease {
  /** Minor collections asked for. */
  attempts = 0;
  /** Of those, the ones after which the young generation was smaller. */
  released = 0;
  private last: EventLoopUtilization = performance.eventLoopUtilization();
  private quiet = 0;
  private fruitless = 0;

  constructor(
    private readonly collect: () => boolean = minorCollection,
    private readonly size: () => number = youngGenerationBytes,
    private readonly utilization: () => number = () => {
      const now = performance.eventLoopUtilization();
      const u = performance.eventLoopUtilization(now, this.last).utilization;
      this.last = now;
      return u;
    },
  ) {}

  /** Called about once a second. */
  tick(): void {
    if (this.utilization() >= QUIET_UTILIZATION) {
      this.quiet = 0;
      return;
    }
    this.quiet++;
    const every = this.fruitless >= TRIES ? BACKOFF_SECONDS : QUIET_SECONDS;
    if (this.quiet < every) return;
    const before = this.size();
    if (before <= YOUNG_RELEASE_ABOVE) {
      this.fruitless = 0;
      return;
    }
    this.quiet = 0;
    if (!this.collect()) return;
    this.attempts++;
    if (this.size() < before) {
      this.released++;
      this.fruitless = 0;
    } else {
      this.fruitless++;
    }
  }
}

/** One minor (young-generation) collection; false when the runtime offers none. */
export function minorCollection(): boolean {
  const gc = collector() as ((options?: { type: 'minor' | 'major' }) => void) | undefined;
  if (gc === undefined) return false;
  gc({ type: 'minor' });
  return true;
}
