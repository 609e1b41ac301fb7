import type { Json, RecoverPosition, RecoveryFailure } from '../protocol/frames.js';
import type { BrokerStats, PublishAnswer, PublishOptions } from './broker.js';
import type { PresenceSummary } from './presence.js';

/**
 * Messages between cluster workers (IpcBroker) and the primary (IpcBrokerHost) over Node's IPC
 * channel. Every one carries `fg: 'broker'` so they are told apart from cluster's own messages.
 * Frames travel as strings: the IPC channel serialises JSON either way.
 */
export type WorkerToPrimary =
  | { fg: 'broker'; t: 'publish'; id: number; channel: string; data: Json; options?: PublishOptions }
  | { fg: 'broker'; t: 'recover'; id: number; channel: string; since?: RecoverPosition }
  | { fg: 'broker'; t: 'watch' | 'unwatch'; channel: string }
  | { fg: 'broker'; t: 'pjoin' | 'pleave'; channel: string; client: string; sub: string; store: boolean; announce: boolean }
  | { fg: 'broker'; t: 'presence'; id: number; channel: string; limit: number };

export type WireRecoverAnswer =
  | { ok: true; epoch: string; offset: number; frames: string[] }
  | { ok: false; epoch: string; offset: number; reason: RecoveryFailure };

export type PrimaryToWorker =
  | { fg: 'broker'; t: 'message'; channel: string; epoch: string; offset: number; frame: string }
  | { fg: 'broker'; t: 'pevent'; channel: string; client: string; frame: string }
  | { fg: 'broker'; t: 'reply'; id: number; ok: true; value: PublishAnswer | WireRecoverAnswer | PresenceSummary }
  | { fg: 'broker'; t: 'reply'; id: number; ok: false; code: string; message: string }
  | { fg: 'broker'; t: 'stats'; stats: BrokerStats };

export function isBrokerMessage(m: unknown): m is { fg: 'broker'; t: string } {
  return typeof m === 'object' && m !== null && (m as { fg?: unknown }).fg === 'broker';
}
