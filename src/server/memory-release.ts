import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Gives memory the gateway has let go of back to the system, now rather than at V8's leisure.
 *
 * History frames are Buffers: their bytes live outside the V8 heap and are freed only when a
 * full garbage collection finds the Buffer objects dead. V8 schedules that by heap growth and
 * lets external memory run ~64 MB past the last collection, and an idle process may not collect
 * at all: measured with the flood of issue 10, 70 MB of expired, unreferenced history stayed
 * allocated (and in RSS) indefinitely. The broker calls this after it dropped a large amount of
 * history at once (budget evictions, expiry sweep), which is rare by construction: it costs one
 * full collection per `releaseAfter` bytes dropped, never one per publication.
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

/** Runs a full collection; false when the runtime offers none. */
export function releaseMemory(): boolean {
  const gc = collector();
  if (gc === undefined) return false;
  gc();
  return true;
}
