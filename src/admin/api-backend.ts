import type { Broker } from '../broker/broker.js';
import type { PresenceSummary } from '../broker/presence.js';

/** One channel as GET /api/channels lists it. */
export interface ChannelRow {
  channel: string;
  /** Local subscriptions on this node (summed over the workers of the machine with --workers). */
  subscribers: number;
}

export interface DisconnectResult {
  /** Connections closed with 4003. */
  closed: number;
  /** Processes that answered; with --workers a missing worker is named, never silently left out. */
  workers?: { expected: number; answered: number; missing: number[] };
}

/**
 * What the server API needs from the gateway around it. One process answers from its own
 * sessions; with --workers the worker that took the request asks every worker through the
 * primary (src/admin/machine-calls.ts). Publishing always goes through the broker, so any node
 * reaches every subscriber.
 */
export interface ApiBackend {
  readonly broker: Broker;
  disconnect(sub: string): Promise<DisconnectResult>;
  channels(): Promise<ChannelRow[]>;
  /** Who is on the channel over every node (the broker's view); FG_ERR_PRESENCE_OFF when its presence is off. */
  presence(channel: string): Promise<PresenceSummary>;
}
