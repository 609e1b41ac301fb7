import { describeAdminAccess, type EffectiveAdminAccess } from './admin-access.js';
import { formatBytes, formatDuration } from '../config/units.js';
import { describeDashboard, type DashboardStatus } from './dashboard-access.js';
import type { GatewayView } from '../server/gateway-view.js';
import { nodeReleaseStatus } from '../system/node-release.js';

/** The effective settings at start: what the gateway will actually do, with where each number came from. */
export interface StartupReport {
  event: 'listening';
  node: string;
  pid: number;
  node_version: string;
  listen: { host: string; port: number; dualStack: boolean; tls: boolean; healthPort?: number };
  /** The admin listener (null = admin paths on the public port) and whether the server API is on. */
  admin: { host: string; port: number; tls: boolean } | null;
  api: boolean;
  backlog: { setting: number | 'max'; requested: number; somaxconn: number | null; effective: number; cappedBySomaxconn: boolean };
  timeouts: { handshakeMs: number; idleMs: number; pingIntervalMs: number; writeMs: number; admissionMs: number; shutdownMs: number };
  capacity: {
    maxConnections: number;
    origin: string;
    explanation: string;
    memoryLimit: number;
    memorySource: string;
    memoryOverhead: number;
    bytesPerConnection: number;
    fdLimit: number | null;
    reservedFds: number;
    explicit: number;
  };
  admission: { queue: number; maxPendingHandshakes: number; retryAfterSeconds: number };
  protection: {
    maxPayload: number;
    compression: boolean;
    maxBufferedBytes: number;
    slowConsumerChecks: number;
    rateBurst: number;
    rateRefillPerSecond: number;
    rateLimitClose: number;
    maxSubscriptions: number;
    auth: boolean;
    authText: string;
    allowedOrigins: string[];
    /** Who may read /stats, /metrics and /dashboard (adminAccess, resolved). */
    adminAccess: string;
  };
  history: { size: number; bytes: number; ttlMs: number };
  /** V8's young generation: the youngGeneration setting in effect, or Node's own flag. */
  youngGeneration: string;
  /** Effective options of each channel namespace (`namespaces`), longest prefix first, in words. */
  namespaces: string[];
  /** Where presence and join/leave are on (`presence`, `joinLeave`, and the namespaces that override them). */
  presence: PresenceReport;
  broker: string;
  /** Where the live dashboard is, or why it is off and how to turn it on. */
  dashboard: DashboardStatus;
  /** Settings that did not come from defaults, and where they came from. */
  overrides: Record<string, string>;
  warnings: string[];
}

export interface PresenceReport {
  /** The top-level settings: channels in no namespace. */
  presence: boolean;
  joinLeave: boolean;
  /** Namespaces (prefixes) with presence on, and with join/leave on, sorted. */
  presenceNamespaces: string[];
  joinLeaveNamespaces: string[];
  /** Most `sub`s listed in one answer (`presenceLimit`). */
  limit: number;
  /** Redis broker: how long a node's entries live without a refresh (`presenceTtl`); null with the other brokers. */
  ttlMs: number | null;
  /** The same in words, as the startup block and the dashboard show it. */
  text: string;
}

/** Where presence and join/leave are on, from the top-level settings and the namespaces that override them. */
export function presenceReport(g: Pick<GatewayView, 'settings' | 'namespaces' | 'broker'>): PresenceReport {
  const s = g.settings;
  const spaces = g.namespaces.list().filter((r) => r.namespace !== null);
  const presenceNamespaces = spaces.filter((r) => r.presence).map((r) => r.namespace!).sort();
  const joinLeaveNamespaces = spaces.filter((r) => r.joinLeave).map((r) => r.namespace!).sort();
  const ttlMs = g.broker.kind === 'redis' ? s.presenceTtl : null;
  const where = (top: boolean, prefixes: string[]): string => {
    const parts = [...(top ? [spaces.length === 0 ? 'every channel' : 'channels in no namespace'] : []), ...(prefixes.length ? [`namespace${prefixes.length > 1 ? 's' : ''} ${prefixes.join(', ')}`] : [])];
    return parts.length ? `on for ${parts.join(' and ')}` : 'off';
  };
  const presenceWhere = where(s.presence, presenceNamespaces);
  const text = presenceWhere === 'off' && !s.joinLeave && joinLeaveNamespaces.length === 0
    ? 'off (turn it on with --presence, --join-leave or per namespace)'
    : [
      presenceWhere,
      `join/leave ${where(s.joinLeave, joinLeaveNamespaces)}`,
      ...(presenceWhere === 'off' ? [] : [`answers list up to ${s.presenceLimit} subs`]),
      ...(ttlMs !== null && presenceWhere !== 'off' ? [`a node's entries expire ${formatDuration(ttlMs)} after its last refresh`] : []),
    ].join('; ');
  return { presence: s.presence, joinLeave: s.joinLeave, presenceNamespaces, joinLeaveNamespaces, limit: s.presenceLimit, ttlMs, text };
}

/** What the operator's side adds about itself: its listener, and who may read it. */
export interface AdminFacts {
  address: { host: string; port: number; tls: boolean } | undefined;
  access: EffectiveAdminAccess;
}

export function buildStartupReport(g: GatewayView, admin: AdminFacts): StartupReport {
  const s = g.settings;
  const cap = g.capacity;
  const warnings: string[] = [];
  if (g.backlogEffective < g.backlogRequested) {
    warnings.push(
      `listen backlog ${g.backlogRequested} is capped to ${g.backlogEffective} by net.core.somaxconn; raise somaxconn (floodgate tune) and restart`,
    );
  }
  if (cap.origin === 'fds' && cap.inputs.explicit > cap.fdCap) {
    warnings.push(`maxConnections ${cap.inputs.explicit} is above what the fd limit allows (${cap.inputs.fdLimit} − ${cap.inputs.reservedFds} reserved); run several workers or raise LimitNOFILE`);
  }
  const runtime = nodeReleaseStatus();
  if (runtime.warning) warnings.push(runtime.warning);
  const overrides: Record<string, string> = {};
  for (const [k, v] of Object.entries(g.sources)) if (v !== 'default') overrides[k] = v;
  return {
    event: 'listening',
    node: g.node,
    pid: process.pid,
    node_version: process.version,
    listen: { host: g.host, port: g.port, dualStack: g.host === '::', tls: g.tls !== undefined, ...(g.healthPort > 0 ? { healthPort: g.healthPort } : {}) },
    admin: admin.address ?? null,
    api: s.apiKey !== '',
    backlog: {
      setting: s.backlog,
      requested: g.backlogRequested,
      somaxconn: g.somaxconn ?? null,
      effective: g.backlogEffective,
      cappedBySomaxconn: g.backlogEffective < g.backlogRequested,
    },
    timeouts: {
      handshakeMs: s.handshakeTimeout, idleMs: s.idleTimeout, pingIntervalMs: s.pingInterval, writeMs: s.writeTimeout,
      admissionMs: s.admissionTimeout, shutdownMs: s.shutdownTimeout,
    },
    capacity: {
      maxConnections: cap.maxConnections,
      origin: cap.origin,
      explanation: cap.explanation,
      memoryLimit: cap.inputs.memoryLimit,
      memorySource: cap.inputs.memorySource,
      memoryOverhead: cap.inputs.memoryOverhead,
      bytesPerConnection: cap.inputs.bytesPerConnection,
      fdLimit: cap.inputs.fdLimit ?? null,
      reservedFds: cap.inputs.reservedFds,
      explicit: cap.inputs.explicit,
    },
    admission: { queue: s.admissionQueue, maxPendingHandshakes: s.maxPendingHandshakes, retryAfterSeconds: s.retryAfter },
    protection: {
      maxPayload: s.maxPayload, compression: s.compression, maxBufferedBytes: s.maxBufferedBytes, slowConsumerChecks: s.slowConsumerChecks,
      rateBurst: s.rateBurst, rateRefillPerSecond: s.rateRefill, rateLimitClose: s.rateLimitClose, maxSubscriptions: s.maxSubscriptions,
      auth: g.tokens !== undefined, authText: g.tokens?.describe() ?? 'off', allowedOrigins: s.allowedOrigins, adminAccess: admin.access,
    },
    history: { size: s.historySize, bytes: s.historyBytes, ttlMs: s.historyTtl },
    youngGeneration: g.youngGeneration,
    namespaces: g.namespaces.describe(),
    presence: presenceReport(g),
    broker: g.broker.kind,
    dashboard: describeDashboard(s, g.port),
    overrides,
    warnings,
  };
}

/** The human block printed on a TTY, in the spirit of the seeds' "=== TCP/Network Tuning ===". */
export function formatStartupReport(r: StartupReport): string {
  const row = (k: string, v: string): string => `  ${k.padEnd(22)} ${v}`;
  const host = r.listen.host.includes(':') ? `[${r.listen.host}]` : r.listen.host;
  const lines = [
    `=== Floodgate gateway (${r.node}, node ${r.node_version}) ===`,
    row('listening on', `${host}:${r.listen.port}${r.listen.dualStack ? ' (IPv4 + IPv6)' : ''}${r.listen.tls ? ', TLS (wss://, https://)' : ''}`),
    ...(r.listen.healthPort !== undefined ? [row('health checks on', `${host}:${r.listen.healthPort} (GET /healthz, own thread)`)] : []),
    row('broker', r.broker),
    row('dashboard', r.dashboard.url ? `${r.dashboard.url} — ${r.dashboard.note}` : r.dashboard.note),
    row('also on this port', r.admin ? '/healthz (the rest is on the admin listener)' : '/healthz, /stats, /stats/machine, /metrics'),
    row('admin', `${r.admin ? `${r.admin.host.includes(':') ? `[${r.admin.host}]` : r.admin.host}:${r.admin.port}${r.admin.tls ? ' https' : ''} (/metrics, /stats, /dashboard${r.api ? ', /api' : ''}; /healthz on both)` : 'on the public port'}; server API ${r.api ? 'on' : 'off (no apiKey)'}`),
    '',
    '=== TCP/Network tuning ===',
    row('listen backlog', `requested ${r.backlog.requested}${r.backlog.setting === 'max' ? ' (max)' : ''}, somaxconn ${r.backlog.somaxconn ?? 'unknown'} → effective ${r.backlog.effective}`),
    row('handshake timeout', formatDuration(r.timeouts.handshakeMs)),
    row('idle timeout', `${formatDuration(r.timeouts.idleMs)} (ping every ${formatDuration(r.timeouts.pingIntervalMs)})`),
    row('write timeout', formatDuration(r.timeouts.writeMs)),
    row('shutdown timeout', formatDuration(r.timeouts.shutdownMs)),
    '',
    '=== Capacity ===',
    row('max connections', r.capacity.explanation),
    row('young generation', r.youngGeneration),
    row('admission', `queue ${r.admission.queue}, wait up to ${formatDuration(r.timeouts.admissionMs)}, ${r.admission.maxPendingHandshakes} handshakes in flight, then 503 Retry-After ${r.admission.retryAfterSeconds}s`),
    '',
    '=== Protection ===',
    row('max payload', formatBytes(r.protection.maxPayload)),
    row('compression', r.protection.compression ? 'on' : 'off'),
    row('slow consumer', `over ${formatBytes(r.protection.maxBufferedBytes)} buffered for ${r.protection.slowConsumerChecks} checks`),
    row('rate limit', `burst ${r.protection.rateBurst}, ${r.protection.rateRefillPerSecond}/s, close after ${r.protection.rateLimitClose || 'never'}`),
    row('history per channel', `${r.history.size} messages, ${formatBytes(r.history.bytes)}, ${formatDuration(r.history.ttlMs)}${r.namespaces.length ? ' (channels in no namespace)' : ''}`),
    ...r.namespaces.map((line, i) => row(i === 0 ? 'namespaces' : '', line)),
    row('presence', r.presence.text),
    row('auth', r.protection.auth ? `token required: ${r.protection.authText}` : 'off'),
    row('allowed origins', r.protection.allowedOrigins.length ? r.protection.allowedOrigins.join(', ') : 'any'),
    row('admin access', `${r.protection.adminAccess}: ${describeAdminAccess(r.protection.adminAccess as EffectiveAdminAccess)}`),
  ];
  const overridden = Object.entries(r.overrides);
  if (overridden.length) lines.push('', `  set by: ${overridden.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  for (const w of r.warnings) lines.push(`  WARNING: ${w}`);
  return `${lines.join('\n')}\n`;
}
