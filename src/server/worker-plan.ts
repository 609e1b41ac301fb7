import { availableParallelism } from 'node:os';
import { FloodgateError } from '../errors.js';

export type Balance = 'round-robin' | 'shared' | 'reuseport';

/** What the primary tells each worker (env FLOODGATE_WORKER_PLAN, JSON). */
export interface WorkerPlan {
  index: number;
  count: number;
  balance: Balance;
  /** This worker's share of the machine's memory budget, bytes. */
  memoryLimit: number;
  /** This worker's share of an explicit machine-wide cap; 0 = none. */
  maxConnections: number;
  /** The broker the primary holds for the workers (`memory` without Redis). */
  ipcBroker: boolean;
  /**
   * reuseport with port 0: the port the first worker got, for the others (each worker binds its
   * own socket, so port 0 would give each a different free port).
   */
  port?: number;
}

export const WORKER_PLAN_ENV = 'FLOODGATE_WORKER_PLAN';

export function resolveWorkerCount(workers: number | 'auto', cores = availableParallelism()): number {
  return workers === 'auto' ? Math.max(1, cores) : workers;
}

/** `listen({ reusePort })` exists from Node 22.12 (and 23.1) on Linux; older versions ignore it silently. */
export function reusePortSupported(version = process.versions.node, platform = process.platform): boolean {
  if (platform !== 'linux' && platform !== 'freebsd') return false;
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/**
 * Picks how workers share the port. `auto` = shared, by the numbers of benchmarks/scale
 * (docs/operations.md): with 2 workers on this 2-core machine a 10,000-upgrade burst went
 * 1.47× the handshakes/s of one process with the shared socket (0.21 CPU s per 1,000, workers
 * took 54/46) against 0.93× with round-robin (0.36 CPU s per 1,000: the primary accepts every
 * connection and passes it on over IPC). reusePort (one socket per worker, spread by the
 * kernel's hash) is taken only when asked for and the runtime has it.
 */
export function chooseBalance(requested: 'auto' | Balance, nodeVersion = process.versions.node): { balance: Balance; note: string } {
  if (requested === 'reuseport' && !reusePortSupported(nodeVersion)) {
    return { balance: 'shared', note: `reuseport needs Node >= 22.12 on Linux (this is ${nodeVersion}); using shared` };
  }
  if (requested === 'auto') return { balance: 'shared', note: 'auto: shared socket (measured, docs/operations.md)' };
  return { balance: requested, note: requested };
}

/**
 * Splits a machine's budgets across workers. The fd limit counts per process, so each worker
 * keeps its own fd-derived cap; memory and an explicit cap are per machine, so each worker gets
 * its share (the first `max % n` workers one more).
 */
export function splitCapacity(input: { workers: number; memoryLimit: number; maxConnections: number }): { memoryLimit: number; maxConnections: number }[] {
  const { workers: n, memoryLimit, maxConnections } = input;
  if (maxConnections > 0 && maxConnections < n) {
    throw new FloodgateError(
      'FG_ERR_INVALID_CONFIG',
      `Invalid value for \`maxConnections\`: ${maxConnections} is a machine-wide cap shared by ${n} workers; expected at least ${n} (or 0 for no explicit cap)`,
    );
  }
  return Array.from({ length: n }, (_, i) => ({
    memoryLimit: Math.floor(memoryLimit / n),
    maxConnections: maxConnections === 0 ? 0 : Math.floor(maxConnections / n) + (i < maxConnections % n ? 1 : 0),
  }));
}

export function readWorkerPlan(env: NodeJS.ProcessEnv = process.env): WorkerPlan | undefined {
  const raw = env[WORKER_PLAN_ENV];
  return raw ? (JSON.parse(raw) as WorkerPlan) : undefined;
}
