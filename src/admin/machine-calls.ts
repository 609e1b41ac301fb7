import type { AdminStats } from './admin-stats.js';
import type { WorkerResults } from '../server/worker-calls.js';
import { coverage } from '../server/worker-calls.js';
import type { ApiBackend, ChannelRow, DisconnectResult } from './api-backend.js';
import type { Broker } from '../broker/broker.js';
import { aggregateStats, type MachineStats } from './machine-stats.js';

/**
 * The admin calls that must cover every worker of `serve --workers N`: the machine's stats, and
 * the server API's disconnect and channel list. They travel the workers' one round trip
 * (src/server/worker-calls.ts); this file names them, runs them on one worker and sums the answers.
 */
export type MachineCallOp = { op: 'stats' } | { op: 'disconnect'; sub: string } | { op: 'channels' };

/** Asks every worker through the primary. */
export type AskWorkers = (call: MachineCallOp, waitMs?: number) => Promise<WorkerResults>;

/** How long the primary waits for every worker's stats before it answers with what it has. */
export const STATS_WAIT_MS = 1000;

/** What one worker does when the primary runs a call on it. */
export interface LocalCalls {
  stats(): AdminStats;
  disconnect(sub: string): number;
  channels(): ChannelRow[];
}

export function runLocal(local: LocalCalls, call: MachineCallOp): unknown {
  switch (call.op) {
    case 'stats':
      return local.stats();
    case 'disconnect':
      return local.disconnect(call.sub);
    case 'channels':
      return local.channels();
  }
}

/** GET /stats/machine: every worker's stats, summed (a silent worker is named missing). */
export async function machineStats(ask: AskWorkers): Promise<MachineStats> {
  const { results, expected } = await ask({ op: 'stats' }, STATS_WAIT_MS);
  return aggregateStats(results.map((r) => ({ index: r.index, stats: r.value as AdminStats })), expected);
}

/** The server API's backend for a worker: publish through the shared broker, the rest machine-wide. */
export function machineBackend(ask: AskWorkers, broker: Broker, presence: ApiBackend['presence']): ApiBackend {
  return {
    broker,
    presence, // the broker already answers for every worker
    disconnect: async (sub): Promise<DisconnectResult> => {
      const { results, expected } = await ask({ op: 'disconnect', sub });
      return { closed: results.reduce((t, r) => t + (r.value as number), 0), workers: coverage(results, expected) };
    },
    channels: async (): Promise<ChannelRow[]> => {
      const { results } = await ask({ op: 'channels' });
      const sums = new Map<string, number>();
      for (const r of results) for (const row of r.value as ChannelRow[]) sums.set(row.channel, (sums.get(row.channel) ?? 0) + row.subscribers);
      return [...sums].map(([channel, subscribers]) => ({ channel, subscribers }));
    },
  };
}
