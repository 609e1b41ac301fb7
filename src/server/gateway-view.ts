import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker } from '../broker/broker.js';
import type { PresenceSummary } from '../broker/presence.js';
import type { ChannelRules } from '../auth/namespaces.js';
import type { SettingSource } from '../config/resolve.js';
import type { ServerSettings } from '../config/server-settings.js';
import type { Capacity } from './capacity.js';
import type { GatewayStats } from './stats.js';
import type { TlsFiles } from './tls.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * What the operator's side (src/admin/) may read of one gateway process, and the few things it
 * may ask of it. The admin side depends on this interface, never on the Gateway class, so the
 * data path can change inside without the dashboard, metrics or the server API following it,
 * and no import runs from src/admin/ back into gateway.ts.
 */
export interface GatewayView {
  readonly settings: Readonly<ServerSettings>;
  readonly sources: Readonly<Record<keyof ServerSettings, SettingSource>>;
  readonly node: string;
  /** The address actually listened on (after the IPv6 fallback) and its port (0 before start). */
  readonly host: string;
  readonly port: number;
  /** The `healthPort` actually listened on (0 when off). */
  readonly healthPort: number;
  readonly capacity: Capacity;
  readonly backlogRequested: number;
  readonly backlogEffective: number;
  readonly somaxconn: number | undefined;
  /** Certificate files when the public listener serves TLS (the admin listener may share them). */
  readonly tls: TlsFiles | undefined;
  /** Connection-token checks; undefined when the gateway checks none. */
  readonly tokens: { describe(): string } | undefined;
  /** Channel namespaces, as the startup report describes them (and which of them keep presence). */
  readonly namespaces: { describe(): string[]; list(): readonly Pick<ChannelRules, 'namespace' | 'presence' | 'joinLeave'>[] };
  /** The server API publishes through it, so a publish reaches every node. */
  readonly broker: Broker;
  readonly shuttingDown: boolean;
  /** The young-generation policy in effect, in words (youngGeneration, or Node's own flag). */
  readonly youngGeneration: string;
  /** The typed snapshot /stats, /metrics and the dashboard read. */
  stats(): GatewayStats;
  /** Closes every connection of a token `sub` on this process (POST /api/disconnect); how many. */
  disconnectUser(sub: string): number;
  /** Channels with subscribers on this process (GET /api/channels). */
  channelList(): { channel: string; subscribers: number }[];
  /** Who is on a channel over every node (GET /api/presence); FG_ERR_PRESENCE_OFF when its presence is off. */
  presenceOf(channel: string): Promise<PresenceSummary>;
}
