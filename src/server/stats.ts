import type { BrokerStats } from '../broker/broker.js';
import type { CapOrigin } from './capacity.js';
import { newHttpRefusals, type HttpRefusals } from './http-refusal.js';

/** Monotonic counters the gateway bumps on its hot paths; stats() copies them into a snapshot. */
export interface GatewayCounters {
  admitted: number;
  admittedAfterWait: number;
  rejectedOverCapacity: number;
  rejectedAdmissionTimeout: number;
  /** Accepted, but not even read before the handshake timeout: the process is behind. */
  rejectedAcceptTimeout: number;
  /** Accepted while every fd the process may give to client sockets was taken (fdLimit − reservedFds). */
  rejectedFdBudget: number;
  rejectedShuttingDown: number;
  rejectedUnauthorized: number;
  rejectedForbiddenOrigin: number;
  handshakeFailures: number;
  handshakeTimeouts: number;
  /** `--workers`: accepted at this worker's cap and passed, unread, to another worker (worker-handoff.ts). */
  handedOff: number;
  /** `--workers`: accepted by another worker at its cap and served here. */
  adopted: number;
  closedSlowConsumer: number;
  closedWriteTimeout: number;
  closedIdleTimeout: number;
  closedRateLimited: number;
  closedBadFrames: number;
  /** ws closed the connection for a WebSocket protocol violation: 1002, 1007, 1009. */
  closedProtocolError: number;
  closedInvalidUtf8: number;
  closedTooBig: number;
  /** Exceptions caught while handling one frame (a server bug; the frame got FG_ERR_INTERNAL). */
  internalErrors: number;
  /** Connections closed with 4001 because their token expired. */
  closedTokenExpired: number;
  /** WebSocket ping frames from clients (each takes a rate-limit token). */
  pingsIn: number;
  refreshes: number;
  refreshFailures: number;
  messagesIn: number;
  messagesOut: number;
  /** Socket writes that carried publication frames (several frames of one turn share one write). */
  publicationWrites: number;
  publications: number;
  publishFailures: number;
  /** Publishes answered from the idempotency window: a retry, nothing published again. */
  duplicatePublishes: number;
  rateLimitedMessages: number;
  badFrames: number;
  replayRequests: number;
  replayedMessages: number;
  recoveryFailures: number;
  /** `presence` frames answered from the broker, and those it could not answer. */
  presenceRequests: number;
  presenceFailures: number;
  /** HTTP requests refused with a JSON body, by kind. */
  http: HttpRefusals;
}

export function newCounters(): GatewayCounters {
  return {
    admitted: 0, admittedAfterWait: 0, rejectedOverCapacity: 0, rejectedAdmissionTimeout: 0, rejectedAcceptTimeout: 0, rejectedFdBudget: 0, rejectedShuttingDown: 0,
    rejectedUnauthorized: 0, rejectedForbiddenOrigin: 0, handshakeFailures: 0, handshakeTimeouts: 0, handedOff: 0, adopted: 0,
    closedSlowConsumer: 0, closedWriteTimeout: 0, closedIdleTimeout: 0, closedRateLimited: 0, closedBadFrames: 0,
    closedProtocolError: 0, closedInvalidUtf8: 0, closedTooBig: 0, internalErrors: 0, closedTokenExpired: 0, pingsIn: 0, refreshes: 0, refreshFailures: 0, http: newHttpRefusals(),
    messagesIn: 0, messagesOut: 0, publicationWrites: 0, publications: 0, publishFailures: 0, duplicatePublishes: 0, rateLimitedMessages: 0, badFrames: 0,
    replayRequests: 0, replayedMessages: 0, recoveryFailures: 0, presenceRequests: 0, presenceFailures: 0,
  };
}

/** What GET /stats returns; /metrics and the dashboard read the same snapshot. */
export interface GatewayStats {
  node: string;
  pid: number;
  uptimeSeconds: number;
  shuttingDown: boolean;
  listener: { host: string; port: number; backlogRequested: number | 'max'; backlogEffective: number; somaxconn: number | undefined };
  connections: {
    current: number;
    peak: number;
    cap: number;
    capOrigin: CapOrigin;
    handshaking: number;
    waiting: number;
    /** Accepted TCP connections not yet handed to the HTTP parser (the user-space accept queue). */
    accepting: number;
  };
  admission: {
    admitted: number;
    admittedAfterWait: number;
    rejected: { over_capacity: number; admission_timeout: number; accept_timeout: number; fd_budget: number; shutting_down: number; unauthorized: number; forbidden_origin: number };
    handshakeFailures: number;
    handshakeTimeouts: number;
    /** `--workers`: connections this process accepted at its cap and passed to another worker, and ones it took over. */
    handedOff: number;
    adopted: number;
  };
  closed: {
    slow_consumer: number; write_timeout: number; idle_timeout: number; rate_limited: number; bad_frames: number;
    protocol_error: number; invalid_utf8: number; message_too_big: number; token_expired: number;
  };
  messages: {
    in: number;
    out: number;
    /** Socket writes that carried publication frames; `out` ÷ this is how many frames a write carried. */
    publicationWrites: number;
    publications: number;
    publishFailures: number;
    duplicatePublishes: number;
    rateLimited: number;
    badFrames: number;
    replayRequests: number;
    replayedMessages: number;
    recoveryFailures: number;
    internalErrors: number;
    pingsIn: number;
    refreshes: number;
    refreshFailures: number;
    presenceRequests: number;
    presenceFailures: number;
  };
  channels: { local: number; subscriptions: number };
  /** HTTP requests refused (each with a status and a JSON body), by kind. */
  http: { refused: HttpRefusals };
  /** Per-IP allowances (maxConnectionsPerIp, ipPublishRate): addresses tracked and what they were refused. */
  perIp: { addresses: number; refusedConnections: number; refusedPublishes: number };
  broker: BrokerStats;
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; limit: number; limitSource: string;
    /** V8's young generation now, bytes, and how often a grown one was handed back when quiet (youngGeneration). */
    youngGeneration: number; youngReleases: number;
  };
  fds: { open: number | undefined; limit: number | undefined };
}
