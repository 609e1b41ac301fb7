import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import { BROKER_URL_FORM, brokerUrlProblem, redactBrokerUrl } from '../broker/broker-url.js';
import { MemoryBroker } from '../broker/memory-broker.js';
import { RedisBroker } from '../broker/redis-broker.js';
import { resolveSettings, type ResolveInput, type SettingSource } from '../config/resolve.js';
import { SERVER_SETTINGS, type ServerSettings } from '../config/server-settings.js';
import { FloodgateError } from '../errors.js';
import { CloseCode } from '../protocol/close-codes.js';
import type { ServerFrame, WelcomeFrame } from '../protocol/frames.js';
import { NODE_DEFAULT_BACKLOG, readFdLimits, readMemoryLimit, readSomaxconn } from '../system/limits.js';
import { countOpenFds } from '../system/process-usage.js';
import { AdminSurface, checkAdminSettings, type EffectiveAdminAccess, type StartupReport, type Surface } from '../admin/admin-surface.js';
import { Admission } from './admission.js';
import { originAllowed, tokenFromRequest } from '../auth/upgrade-auth.js';
import { TokenVerifier } from '../auth/token-verifier.js';
import { ChannelNamespaces, type AccessClaims } from '../auth/namespaces.js';
import type { PresenceRulesFor } from '../auth/presence-rules.js';
import type { PresenceSummary } from '../broker/presence.js';
import { rawSocket, TlsFiles } from './tls.js';
import { computeCapacity, type Capacity } from './capacity.js';
import { HealthThread } from './health-thread.js';
import { Hub } from './hub.js';
import { createLogger } from './logger.js';
import { sendJson } from './send-json.js';
import { rejectAndRelease, rejectUpgrade } from './reject.js';
import { IpLimits, ipKey } from './ip-limits.js';
import { refusalForParserError, refusalForWsError, refuseOnSocket, type Refusal } from './http-refusal.js';
import { rootMessage } from './root-answer.js';
import { RejectionLog } from './rejection-log.js';
import { monoMs, Session, type SessionContext } from './session.js';
import { WriteCoalescer } from './write-coalescer.js';
import { MAX_FAST_HEAD, mayBeUpgrade, parseUpgrade, type UpgradeRequest } from './upgrade-request.js';
import { acceptKey, attachSocket, serverWebSocket, upgradeResponse } from './fast-upgrade.js';
import { WelcomeText } from './welcome.js';
import { WorkerHandoff } from './worker-handoff.js';
import { compactListeners } from './compact-listeners.js';
import { applyYoungGeneration, YoungGenerationRelease, youngGenerationBytes } from './memory-release.js';
import type { EventEmitter } from 'node:events';
import { newCounters, type GatewayCounters, type GatewayStats } from './stats.js';
import type { GatewayView, RouteHandler } from './gateway-view.js';

/** Programmatic options: any setting of src/config/server-settings.ts. */
export type GatewayOptions = { [K in keyof ServerSettings]?: ServerSettings[K] | string };

export interface GatewaySources {
  /** Environment to read FLOODGATE_* from; the API ignores process.env unless given. */
  env?: NodeJS.ProcessEnv;
  /** JSON config file path. */
  file?: string;
  /** Command-line values (rank with options). */
  flags?: Record<string, unknown>;
  /** Where logs go (default stderr). */
  logStream?: NodeJS.WritableStream;
  /** A broker instance to use instead of the one `broker` names. */
  broker?: Broker;
  /** Extra listen() options: `serve --workers` with reuseport balance sets `{ reusePort, exclusive }` (Node >= 22.12). */
  listen?: { reusePort?: boolean; exclusive?: boolean };
  /** `serve --workers`: where a connection accepted at the cap goes instead of a 503 (worker-handoff.ts). */
  handoff?: WorkerHandoff;
}

export type { GatewayView, RouteHandler } from './gateway-view.js';

const kSession = Symbol('floodgate.session');
/** The token's `sub` (for POST /api/disconnect); on the socket, so Session stays as it is. */
const kSub = Symbol('floodgate.sub');
type TrackedSocket = WebSocket & { [kSession]?: Session; [kSub]?: string };

/** An upgrade request from Node's HTTP server, or one read by the fast path (upgrade-request.ts). */
type UpgradeReq = IncomingMessage | (UpgradeRequest & { socket: Socket });

function noop(): void {}
const NONE_TRIED: readonly number[] = [];

const NO_HOST: Refusal = { status: 400, code: 'FG_ERR_BAD_REQUEST', kind: 'no_host', message: 'an HTTP/1.1 request must carry a Host header' };
/** RFC 6455 §4.1: "the HTTP version MUST be at least 1.1" (HTTP/1.0 has no Host requirement and no Upgrade). */
const OLD_HTTP_UPGRADE: Refusal = { status: 400, code: 'FG_ERR_BAD_REQUEST', kind: 'bad_request', message: 'a WebSocket upgrade must be HTTP/1.1 or later (RFC 6455 §4.1)' };
/** A proxy request: the gateway is no proxy. Unanswered, Node would close the socket without a byte. */
const CONNECT_REFUSED: Refusal = { status: 405, code: 'FG_ERR_METHOD_NOT_ALLOWED', kind: 'method_not_allowed', message: 'CONNECT is not served: this is a WebSocket gateway, not a proxy', headers: { Allow: 'GET' } };

/**
 * Fragments one inbound message may come in (past it: close 1008). ws keeps each fragment as a
 * Buffer (~100 B) until the message is whole, so under ws's default of 16,384 a message of
 * one-byte fragments held ~2 MB per connection within a 16 KiB maxPayload. One per KiB of
 * maxPayload, at least 64, keeps that overhead well under maxPayload itself.
 */
export function maxFragments(maxPayload: number): number {
  return Math.max(64, Math.ceil(maxPayload / 1024));
}

/**
 * Socket reads ws may hold while a frame is incomplete (past it: close 1008). Each read is kept
 * as its own Buffer until the frame is whole, so a frame sent a byte per TCP segment held
 * ~300 B per byte (ws allows 262,144 reads): 20 connections dribbling 8 KB each took 50 MB.
 * One read per 256 B of maxPayload, at least 64, is far more than a real link needs (segments
 * carry ~1,400 B).
 */
export function maxBufferedChunks(maxPayload: number): number {
  return Math.max(64, Math.ceil(maxPayload / 256));
}

/** Requests one plain-HTTP connection may have unanswered at once (pipelined); past it the connection is closed. */
const MAX_PIPELINED = 16;

/** New connections handed to the HTTP server per event-loop turn (see onAccepted). */
const ACCEPT_BATCH = 64;

/** Byte counters are compared modulo this, so they stay small integers in every session. */
const WRAP = 2 ** 30;

// Shared listeners (not closures per connection): `this` is the WebSocket.
function onWsMessage(this: TrackedSocket, data: RawData, isBinary: boolean): void {
  const session = this[kSession];
  if (session === undefined) return;
  // Nothing one frame does may escape to the process: a throw here would be uncaught and take
  // every other connection down with it. The session answers FG_ERR_INTERNAL and carries on.
  try {
    session.onMessage(data, isBinary);
  } catch (err) {
    session.failed(err);
  }
}
function onWsPing(this: TrackedSocket): void {
  this[kSession]?.onPing();
}
/** ws reports a protocol violation (RSV bits, bad UTF-8, oversized frame…) here, then closes with its code. */
function onWsError(this: TrackedSocket, err: Error & { code?: string }): void {
  this[kSession]?.protocolViolation(err.code);
}
function onWsClose(this: TrackedSocket): void {
  const s = this[kSession];
  this[kSession] = undefined;
  s?.dispose();
}

/**
 * The single-process gateway: listener with an explicit backlog, admission before any
 * WebSocket work, sessions, channels through a Broker, liveness sweep, stats and metrics.
 */
export class Gateway implements GatewayView {
  readonly settings: Readonly<ServerSettings>;
  readonly sources: Readonly<Record<keyof ServerSettings, SettingSource>>;
  readonly capacity: Capacity;
  readonly log: Logger;
  readonly broker: Broker;
  readonly counters: GatewayCounters = newCounters();
  /** The operator's side (src/admin/): stats, metrics, dashboard, server API, admin listener. */
  readonly admin: AdminSurface;
  /** JWT (and legacy) token checks; undefined when no auth key is set. */
  readonly tokens: TokenVerifier | undefined;
  /** Channel options by prefix (`namespaces`): history bounds, client publishing, presence, claim rules. */
  readonly namespaces: ChannelNamespaces;
  /** --tls-cert/--tls-key: wss:// and https:// on the public listener (and the admin one with adminTls). */
  readonly tls: TlsFiles | undefined;
  private readonly admission: Admission;
  private readonly hub: Hub;
  /** Presence and join/leave per channel: the one place channel namespaces plug into. */
  readonly presenceRules: PresenceRulesFor;
  /** Per-IP connection and publish allowances (off unless maxConnectionsPerIp / ipPublishRate are set). */
  readonly ipLimits: IpLimits;
  private readonly server: Server;
  /** The listening socket: accepts as fast as the kernel hands connections over (see onAccepted). */
  private readonly listener: NetServer;
  private readonly acceptQueue: Socket[] = [];
  private acceptHead = 0;
  private pumpScheduled = false;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private readonly routes = new Map<string, RouteHandler>();
  /** Sockets that carried plain HTTP requests (/healthz pollers, scrapers; closed at shutdown), with their requests not yet answered. */
  private readonly httpSockets = new Map<Socket, number>();
  /** The last memory reading that succeeded (stats() keeps it when the process is out of fds). */
  private lastMemory: NodeJS.MemoryUsage = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  /** Sockets that have not yet sent a complete request or upgrade, with their deadline. */
  private readonly preUpgrade = new Map<Socket, number>();
  private preUpgradeTimer: NodeJS.Timeout | undefined;
  private readonly ctx: SessionContext;
  /** The welcome frame's fields but the session's own, and their text serialised once (welcome.ts). */
  private readonly welcomeFields: Omit<WelcomeFrame, 'session' | 'exp'>;
  private readonly welcomeText: WelcomeText;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** `healthPort`: /healthz answered by a thread of its own. */
  private health: HealthThread | undefined;
  private closing: Promise<void> | undefined;
  private nextSessionId = 0;
  private peak = 0;
  private readonly startedAt = Date.now();
  private readonly memory: { bytes: number; source: string };
  private readonly fdLimit: number | undefined;
  readonly somaxconn: number | undefined;
  readonly backlogRequested: number;
  readonly backlogEffective: number;
  readonly node: string;
  shuttingDown = false;
  readonly youngGeneration: string;
  /** Hands a grown young generation back once the process is quiet (memory-release.ts). */
  private readonly youngRelease = new YoungGenerationRelease();
  private listening: { host: string; port: number } | undefined;
  private readonly listenExtra: { reusePort?: boolean; exclusive?: boolean };
  private readonly handoff: WorkerHandoff | undefined;

  constructor(settings: Readonly<ServerSettings>, sources: Readonly<Record<keyof ServerSettings, SettingSource>>, extra: GatewaySources) {
    this.settings = settings;
    this.sources = sources;
    this.node = settings.nodeId || `${hostname()}:${process.pid}`;
    this.youngGeneration = applyYoungGeneration(settings.youngGeneration);
    this.log = createLogger(settings.logFormat, settings.logLevel, extra.logStream);

    const mem = settings.memoryLimit > 0 ? { bytes: settings.memoryLimit, source: 'setting' } : readMemoryLimit();
    this.memory = mem;
    this.fdLimit = readFdLimits().hard;
    this.capacity = computeCapacity({
      explicit: settings.maxConnections,
      memoryLimit: mem.bytes,
      memorySource: mem.source,
      memoryOverhead: settings.memoryOverhead,
      bytesPerConnection: settings.bytesPerConnection,
      fdLimit: this.fdLimit,
      reservedFds: settings.reservedFds,
    });

    this.somaxconn = readSomaxconn();
    this.backlogRequested =
      settings.backlog === 'max' ? (this.somaxconn ?? 4096) : settings.backlog === 0 ? NODE_DEFAULT_BACKLOG : settings.backlog;
    this.backlogEffective = this.somaxconn === undefined ? this.backlogRequested : Math.min(this.backlogRequested, this.somaxconn);

    // before anything below opens files or watchers: a bad combination stops the start cleanly
    checkAdminSettings(settings);
    this.namespaces = new ChannelNamespaces(settings);
    this.tokens = TokenVerifier.fromSettings(settings, this.log);
    this.namespaces.checkTokensConfigured(this.tokens !== undefined);
    this.listenExtra = extra.listen ?? {};
    this.handoff = extra.handoff;
    this.broker = extra.broker ?? createBroker(settings, this.namespaces, this.log);
    // presence and join/leave per channel come from the channel's namespace (or the top-level settings)
    this.presenceRules = (channel) => this.namespaces.rulesFor(channel);
    this.hub = new Hub(this.broker, this.presenceRules);
    this.admission = new Admission({
      cap: this.capacity.maxConnections,
      queueLimit: settings.admissionQueue,
      timeoutMs: settings.admissionTimeout,
      maxPendingHandshakes: settings.maxPendingHandshakes,
    });
    this.ipLimits = new IpLimits(settings);
    this.ctx = {
      settings, broker: this.broker, counters: this.counters, hub: this.hub, log: this.log, coalescer: new WriteCoalescer(),
      namespaces: this.namespaces,
      clientPrefix: `${this.node}/${randomBytes(4).toString('base64url')}.`, presenceRules: this.presenceRules,
      ipLimits: this.ipLimits.active ? this.ipLimits : undefined,
      // refresh goes through the same verification as the upgrade, whatever the token format
      verifyToken: this.tokens === undefined ? undefined : (token: string) => this.checkToken(token),
      sessionClosed: (session) => {
        this.sessions.delete(session);
        this.admission.connectionClosed();
      },
    };

    this.welcomeFields = {
      type: 'welcome', node: this.node, pingInterval: settings.pingInterval, maxPayload: settings.maxPayload,
      rateBurst: settings.rateBurst, rateRefill: settings.rateRefill, idempotencyWindow: settings.idempotencyWindow,
    };
    this.welcomeText = new WelcomeText(this.welcomeFields);

    this.tls = TlsFiles.fromSettings(settings, this.log);
    // reads this gateway through GatewayView only (src/server/gateway-view.ts)
    this.admin = new AdminSurface(this, (req, res, surface) => this.serveHttp(req, res, surface));

    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: settings.maxPayload,
      maxFragments: maxFragments(settings.maxPayload),
      maxBufferedChunks: maxBufferedChunks(settings.maxPayload),
      perMessageDeflate: settings.compression,
    });
    const httpOptions = {
      // headersTimeout is checked on this interval: keep it well under the handshake timeout
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(settings.handshakeTimeout / 2))),
      headersTimeout: settings.handshakeTimeout,
      requestTimeout: settings.handshakeTimeout,
      keepAliveTimeout: 5000,
      // a request without Host gets our JSON 400 (onRequest/onUpgrade), not Node's empty one
      requireHostHeader: false,
    };
    // With TLS the accepted TCP sockets are handed to an https server, which wraps each in a
    // TLSSocket; everything after that (admission, ws) is the same.
    this.server = this.tls
      ? createHttpsServer({ ...httpOptions, ...this.tls.options, handshakeTimeout: settings.handshakeTimeout })
      : createServer(httpOptions);
    if (this.tls) this.tls.attach(this.server as unknown as { setSecureContext(o: object): void });
    this.listener = createNetServer({ pauseOnConnect: true }, (socket) => this.onAccepted(socket));
    // a throw in these handlers would be uncaught and end the process: contain it to the one request
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.onUpgrade(req, socket, head);
      } catch (err) {
        this.requestFailed(err, socket);
      }
    });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      try {
        this.onRequest(req, res);
      } catch (err) {
        this.requestFailed(err, req.socket);
      }
    });
    this.server.on('connect', (_req: IncomingMessage, socket: Duplex) => refuseOnSocket(socket, CONNECT_REFUSED, this.counters.http));
    // Node's parser refused the request (syntax, URL or headers over its limit, too slow)
    this.server.on('clientError', (err: Error, socket: Duplex) => {
      const refusal = refusalForParserError(err);
      if (refusal === undefined) socket.destroy();
      else refuseOnSocket(socket, refusal, this.counters.http);
    });
    // ws's own upgrade checks (method, Upgrade, Sec-WebSocket-Key/Version…) answer through us too
    this.wss.on('wsClientError', (err: Error, socket: Duplex) => refuseOnSocket(socket, refusalForWsError(err), this.counters.http));

    this.route('/healthz', (_req, res) => {
      const ok = !this.shuttingDown && this.broker.stats().healthy;
      sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : this.shuttingDown ? 'shutting_down' : 'broker_down', node: this.node });
    });
  }

  /** Adds an HTTP GET route on the gateway's port (the operator's paths live in src/admin/). */
  route(path: string, handler: RouteHandler): void {
    this.routes.set(path, handler);
  }

  get port(): number {
    return this.listening?.port ?? 0;
  }

  /** The `healthPort` actually listened on (0 when off). */
  get healthPort(): number {
    return this.health?.port ?? 0;
  }

  get host(): string {
    return this.listening?.host ?? this.settings.host;
  }

  async start(): Promise<void> {
    await this.broker.start();
    let host = this.settings.host;
    try {
      await this.listen(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
        this.log.warn({ err: code }, 'IPv6 is not available; listening on 0.0.0.0 (IPv4 only)');
        host = '0.0.0.0';
        await this.listen(host);
      } else {
        await this.broker.close();
        throw new FloodgateError('FG_ERR_LISTEN', `cannot listen on ${host}:${this.settings.port}: ${(err as Error).message}`, { code });
      }
    }
    const addr = this.listener.address();
    this.listening = { host, port: typeof addr === 'object' && addr ? addr.port : this.settings.port };
    if (this.settings.healthPort !== 'off') {
      this.health = new HealthThread(
        () => ({ shuttingDown: this.shuttingDown, brokerHealthy: this.broker.stats().healthy }),
        { host, port: this.settings.healthPort, node: this.node, stallMs: 5000 },
      );
      try {
        await this.health.start();
      } catch (err) {
        await this.close(0);
        throw new FloodgateError('FG_ERR_LISTEN', `cannot listen on ${host}:${this.settings.healthPort} (healthPort): ${(err as Error).message}`);
      }
    }
    try {
      await this.admin.start();
    } catch (err) {
      await this.close(0);
      throw err;
    }
    // refused upgrades: one summary line per 10 s, not one per 503 and not silence
    const rejections = new RejectionLog(this.counters, (r) => this.log.warn({ status: r.status, rejected: r.reasons, seconds: r.windowSeconds }, r.line));
    this.sweepTimer = setInterval(() => {
      this.sweep();
      rejections.tick();
      this.youngRelease.tick();
    }, 1000);
    this.sweepTimer.unref();
    this.preUpgradeTimer = setInterval(() => this.sweepPreUpgrade(), Math.max(50, Math.min(1000, this.settings.handshakeTimeout / 4)));
    this.preUpgradeTimer.unref();
    if (this.backlogEffective < this.backlogRequested) {
      this.log.warn(
        { requested: this.backlogRequested, somaxconn: this.somaxconn, effective: this.backlogEffective },
        'listen backlog capped by net.core.somaxconn; raise it with `floodgate tune` (sysctl net.core.somaxconn) and restart',
      );
    }
  }

  private listen(host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.listener.once('error', onError);
      this.listener.listen({ host, port: this.settings.port, backlog: this.backlogRequested, ipv6Only: false, ...this.listenExtra }, () => {
        this.listener.removeListener('error', onError);
        // after listen, an error is a failed accept (EMFILE, ENFILE, ENOMEM): unhandled it would end the process
        this.listener.on('error', (err: NodeJS.ErrnoException) => this.acceptFailed(err));
        resolve();
      });
    });
  }

  startupReport(): StartupReport {
    return this.admin.startupReport();
  }

  /** The one access policy of /stats, /stats/machine, /metrics and /dashboard (src/admin/admin-access.ts). */
  get adminAccess(): EffectiveAdminAccess {
    return this.admin.access;
  }

  /**
   * Accepting is split from HTTP work so a burst lands in user space, not in the kernel's accept
   * queue: sockets are accepted paused (cheap), queued, and handed to the HTTP server a batch per
   * event-loop turn. Between batches libuv returns to poll and accepts again, so the listen queue
   * is drained even while thousands of handshakes are being worked through. Overflowing it would
   * cost clients 1 s SYN/ACK retransmits (TcpExt.ListenOverflows).
   */
  private onAccepted(socket: Socket, tried: readonly number[] = NONE_TRIED): void {
    // at the cap, another worker may have room: the socket goes there unread (worker-handoff.ts)
    if (this.handoff !== undefined && this.holding() >= this.capacity.maxConnections && this.handoff.give(socket, tried)) {
      this.counters.handedOff++;
      return;
    }
    // Every accepted socket holds an fd from here, whether or not it ever sends a byte. Past the
    // fds the process may give to clients (fdLimit − reservedFds, the fd-derived cap) the next
    // EMFILE would hit the process itself (reading /proc, logs, the broker): silent connections
    // alone took it down. They get a 503 and their fd back at once instead.
    if (this.openSockets() > this.capacity.fdCap && this.capacity.fdCap >= 0) {
      this.counters.rejectedFdBudget++;
      socket.on('error', noop);
      if (this.tls) socket.destroy();
      else rejectAndRelease(socket, 503, 'FG_ERR_OVER_CAPACITY', `server busy: all ${this.capacity.fdCap} file descriptors for clients are in use`, this.settings.retryAfter);
      return;
    }
    // A client that connects but never completes a request or upgrade is closed on time
    // (slowloris). Deadlines live in one map swept by one timer: a socket timer each would stay
    // attached to every upgraded socket (~160 B each) after it is cleared.
    if (this.ipLimits.active) {
      // counted from accept, not from the upgrade: sockets that connect and send nothing (or
      // trickle a request) are the address's connections too, else one address could hold any
      // number of them until their handshakeTimeout
      const ip = ipKey(socket.remoteAddress);
      if (!this.ipLimits.connect(ip, monoMs())) {
        this.refuseIpAtAccept(socket, ip);
        return;
      }
      socket.once('close', () => this.ipLimits.disconnected(ip));
    }
    this.preUpgrade.set(socket, Date.now() + this.settings.handshakeTimeout);
    this.acceptQueue.push(socket);
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(this.pump);
    }
  }

  private readonly pump = (): void => {
    this.pumpScheduled = false;
    let handed = 0;
    const now = Date.now();
    while (this.acceptHead < this.acceptQueue.length && handed < ACCEPT_BATCH) {
      const socket = this.acceptQueue[this.acceptHead++];
      if (socket.destroyed) continue;
      if ((this.preUpgrade.get(socket) ?? Infinity) <= now) {
        this.rejectUnread(socket);
        continue;
      }
      handed++;
      if (this.tls) {
        this.server.emit('connection', socket);
      } else {
        // the first bytes decide: a plain WebSocket upgrade is read here, anything else goes to
        // the HTTP server (see upgrade-request.ts)
        socket.on('error', noop);
        socket.on('data', this.firstBytes);
      }
      socket.resume();
    }
    if (this.acceptHead === this.acceptQueue.length) {
      this.acceptQueue.length = 0;
      this.acceptHead = 0;
    } else {
      if (this.acceptHead > 4096) {
        this.acceptQueue.splice(0, this.acceptHead);
        this.acceptHead = 0;
      }
      this.pumpScheduled = true;
      setImmediate(this.pump);
    }
  };

  /** Shared 'data' listener of sockets whose first request has not been read yet (`this` = socket). */
  private readonly firstBytes = ((gateway: Gateway) =>
    function firstBytes(this: Socket, chunk: Buffer): void {
      gateway.onFirstBytes(this, chunk);
    })(this);

  /** Request heads that arrived in more than one segment, until complete (rare: clients send it in one write). */
  private readonly partialHeads = new Map<Socket, Buffer>();

  private onFirstBytes(socket: Socket, chunk: Buffer): void {
    const before = this.partialHeads.get(socket);
    const buf = before === undefined ? chunk : Buffer.concat([before, chunk]);
    const parsed = before === undefined && !mayBeUpgrade(chunk) ? ({ kind: 'fallback' } as const) : parseUpgrade(buf, this.settings.compression);
    if (parsed.kind === 'incomplete') {
      if (before === undefined) socket.once('close', () => this.partialHeads.delete(socket));
      this.partialHeads.set(socket, buf);
      return;
    }
    this.partialHeads.delete(socket);
    socket.removeListener('data', this.firstBytes);
    if (parsed.kind === 'fallback') {
      // the HTTP server reads these same bytes first, then the rest of the stream
      socket.removeListener('error', noop);
      socket.pause();
      socket.unshift(buf);
      this.server.emit('connection', socket);
      socket.resume();
      return;
    }
    socket.pause(); // nothing more is read until ws takes the socket (or a refusal resumes it)
    const req = parsed.req as UpgradeRequest & { socket: Socket };
    req.socket = socket;
    try {
      this.onUpgrade(req, socket, parsed.head, parsed.key);
    } catch (err) {
      this.requestFailed(err, socket);
    }
  }

  /** Connections this process answers for: live, handshaking, waiting for a slot, not yet read. */
  private holding(): number {
    return this.admission.live + this.admission.handshaking + this.admission.waiting + this.preUpgrade.size;
  }

  /**
   * A connection another worker accepted at its cap, handed over by the primary as its native
   * handle, unread; `tried` = the workers that were full. Served as if accepted here.
   */
  adopt(handle: unknown, tried: readonly number[]): void {
    this.counters.adopted++;
    this.onAccepted(WorkerHandoff.adopt(handle), tried);
  }

  /** Accepted connections not yet handed to the HTTP server. */
  get acceptBacklog(): number {
    return this.acceptQueue.length - this.acceptHead;
  }

  private sweepPreUpgrade(): void {
    const now = Date.now();
    // Sockets still in the accept queue were never read: the process is behind, not the client.
    // They get a 503 with Retry-After rather than a reset. Deadlines follow queue order.
    while (this.acceptHead < this.acceptQueue.length) {
      const socket = this.acceptQueue[this.acceptHead];
      const deadline = this.preUpgrade.get(socket);
      if (!socket.destroyed && deadline !== undefined && deadline > now) break;
      this.acceptHead++;
      if (!socket.destroyed) this.rejectUnread(socket);
      else this.preUpgrade.delete(socket);
    }
    for (const [socket, deadline] of this.preUpgrade) {
      if (socket.destroyed) this.preUpgrade.delete(socket);
      else if (deadline <= now) {
        this.preUpgrade.delete(socket);
        // a half-sent head stops being read as a request: what follows is drained and dropped
        socket.removeListener('data', this.firstBytes);
        this.partialHeads.delete(socket);
        this.counters.handshakeTimeouts++;
        // slowloris: a 408 with the JSON body, then the socket is closed within 2 s whatever the client does
        refuseOnSocket(socket, { status: 408, code: 'FG_ERR_HTTP_TIMEOUT', kind: 'timeout', message: `the request did not complete within handshakeTimeout (${this.settings.handshakeTimeout} ms)` }, this.counters.http);
      }
    }
  }

  /** An address past maxConnectionsPerIp: 429 with the JSON body at once, its request unread. */
  private refuseIpAtAccept(socket: Socket, ip: string): void {
    this.counters.http.ip_connections++;
    socket.on('error', noop);
    if (this.tls) {
      // a plaintext answer means nothing to a TLS client, and a TLS one would cost a handshake
      socket.destroy();
      return;
    }
    socket.resume(); // read (and drop) whatever comes, so the client's FIN is seen and the socket closes
    rejectUpgrade(socket, 429, 'FG_ERR_IP_CONNECTIONS', `${ip} holds maxConnectionsPerIp ${this.settings.maxConnectionsPerIp} connections already`, this.settings.retryAfter);
  }

  private acceptFailedAt = 0;

  private acceptFailed(err: NodeJS.ErrnoException): void {
    const now = Date.now();
    if (now - this.acceptFailedAt < 10_000) return; // one line per 10 s, not one per refused connect
    this.acceptFailedAt = now;
    this.log.warn({ err: err.code ?? err.message }, 'accepting a connection failed (out of file descriptors?); the kernel drops or libuv closes such connections');
  }

  /**
   * Client sockets the listener holds open (upgraded or not): net.Server counts them as it accepts
   * and they close. `_connections` is Node's own counter (getConnections() is async); were it ever
   * gone, this reads 0 and the fd guard stays off rather than refusing everyone.
   */
  private openSockets(): number {
    return (this.listener as unknown as { _connections?: number })._connections ?? 0;
  }

  /** A socket that waited in the accept queue past its handshake deadline: 503, never a reset. */
  private rejectUnread(socket: Socket): void {
    this.preUpgrade.delete(socket);
    this.counters.rejectedAcceptTimeout++;
    socket.on('error', noop);
    if (this.tls) {
      // a plaintext 503 means nothing to a TLS client, and answering in TLS would cost the
      // handshake the process is already behind on
      socket.destroy();
      return;
    }
    // accepted paused: read (and drop) the request so the client's FIN is seen and the socket closes
    socket.resume();
    rejectUpgrade(socket, 503, 'FG_ERR_OVER_CAPACITY', `server busy: the request was not read within ${this.settings.handshakeTimeout} ms`, this.settings.retryAfter);
  }

  private requestFailed(err: unknown, socket: Duplex): void {
    this.counters.internalErrors++;
    this.log.warn({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'HTTP request handling failed');
    rejectUpgrade(socket, 500, 'FG_ERR_INTERNAL', 'the server failed to handle this request');
  }

  private refuse(res: ServerResponse, r: Refusal): void {
    this.counters.http[r.kind]++;
    if (r.headers) for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
    res.setHeader('connection', 'close');
    sendJson(res, r.status, { code: r.code, message: r.message });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.preUpgrade.delete(rawSocket(req.socket)); // from here Node's request and keep-alive timeouts apply
    const sock = req.socket;
    if (sock.destroyed) return; // the rest of a burst already refused: Node parses the whole read
    const unanswered = this.httpSockets.get(sock);
    if (unanswered === undefined) sock.once('close', () => this.httpSockets.delete(sock));
    // Node parses every request of a read (64 KB: ~1,700 small ones) before any answer leaves,
    // and holds each with its queued response: one burst pinned ~3 MB per connection. No
    // monitor or balancer pipelines this deep; the connection is closed instead.
    if ((unanswered ?? 0) >= MAX_PIPELINED) {
      this.counters.http.bad_request++;
      this.httpSockets.delete(sock);
      sock.destroy();
      return;
    }
    this.httpSockets.set(sock, (unanswered ?? 0) + 1);
    res.once('close', () => {
      const n = this.httpSockets.get(sock);
      if (n !== undefined && n > 0) this.httpSockets.set(sock, n - 1);
    });
    // a kept-alive poller must not hold the shutdown up: this answer is its last on this socket
    if (this.shuttingDown) res.setHeader('connection', 'close');
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      this.refuse(res, NO_HOST);
      return;
    }
    this.serveHttp(req, res, 'public');
  }

  /** HTTP routes of either listener: the admin listener hands its requests here with `admin`. */
  private serveHttp(req: IncomingMessage, res: ServerResponse, surface: Surface): void {
    const path = (req.url ?? '/').split('?')[0];
    if (this.admin.intercept(req, res, path, surface)) return;
    const isRead = req.method === 'GET' || req.method === 'HEAD';
    const handler = this.routes.get(path) ?? this.admin.handlerFor(path);
    if (handler && isRead) {
      const denied = this.admin.denied(path, req);
      if (denied !== undefined) {
        this.refuse(res, { status: 403, code: 'FG_ERR_ADMIN_FORBIDDEN', kind: 'admin_forbidden', message: denied });
        return;
      }
      handler(req, res);
      return;
    }
    if (handler || (path === '/' && surface === 'public')) {
      if (!isRead) {
        this.refuse(res, { status: 405, code: 'FG_ERR_METHOD_NOT_ALLOWED', kind: 'method_not_allowed', message: `${req.method} ${path}: only GET and HEAD are served here`, headers: { allow: 'GET, HEAD' } });
        return;
      }
      this.refuse(res, {
        status: 426, code: 'FG_ERR_UPGRADE_REQUIRED', kind: 'upgrade_required', headers: { upgrade: 'websocket' },
        message: rootMessage(this.port, this.admin.dashboardStatus()),
      });
      return;
    }
    this.refuse(res, { status: 404, code: 'FG_ERR_NOT_FOUND', kind: 'not_found', message: `no route ${req.method} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}` });
  }

  /** `key` is set when the fast path read the request: the handshake then skips ws's handleUpgrade. */
  private onUpgrade(req: UpgradeReq, socket: Duplex, head: Buffer, key?: string): void {
    const c = this.counters;
    const s = this.settings;
    this.preUpgrade.delete(rawSocket(socket)); // admission and the handshake have their own bounds
    if (socket.listenerCount('error') === 0) socket.on('error', noop);
    if (req.httpVersion === '1.0') {
      refuseOnSocket(socket, OLD_HTTP_UPGRADE, c.http);
      return;
    }
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      refuseOnSocket(socket, NO_HOST, c.http);
      return;
    }
    if (this.shuttingDown) {
      c.rejectedShuttingDown++;
      rejectUpgrade(socket, 503, 'FG_ERR_SHUTTING_DOWN', 'server is shutting down', s.retryAfter);
      return;
    }
    // per-IP connection slots were taken when the socket was accepted (onAccepted)
    if (!originAllowed(s.allowedOrigins, req.headers.origin)) {
      c.rejectedForbiddenOrigin++;
      rejectUpgrade(socket, 403, 'FG_ERR_FORBIDDEN_ORIGIN', `origin ${req.headers.origin} is not allowed`);
      return;
    }
    if (this.tokens) {
      // verification is asynchronous (jose); nothing is admitted or allocated until it answers
      this.tokens.verify(tokenFromRequest(req)).then((check) => {
        if (socket.destroyed) return;
        if (!check.ok) {
          c.rejectedUnauthorized++;
          rejectUpgrade(socket, 401, 'FG_ERR_UNAUTHORIZED', check.reason);
          return;
        }
        this.admit(req, socket, head, key, this.namespaces.accessFor(check.claims as unknown as AccessClaims), check.claims.exp, check.claims.sub);
      }, (err: Error) => {
        this.log.warn({ err: err.message }, 'token verification failed unexpectedly');
        c.rejectedUnauthorized++;
        rejectUpgrade(socket, 401, 'FG_ERR_UNAUTHORIZED', 'token could not be verified');
      });
      return;
    }
    this.admit(req, socket, head, key, undefined, 0, undefined);
  }

  /**
   * Verifies a token exactly as the upgrade does (JWT or legacy format, channel list), for
   * anything that takes a token after the upgrade (the `refresh` frame).
   */
  async checkToken(token: string | undefined): Promise<
    { ok: true; exp: number; sub: string | undefined; canUse: ((channel: string) => boolean) | undefined } | { ok: false; reason: string }
  > {
    if (!this.tokens) return { ok: false, reason: 'this gateway checks no tokens' };
    const check = await this.tokens.verify(token);
    if (!check.ok) return check;
    return { ok: true, exp: check.claims.exp, sub: check.claims.sub, canUse: this.namespaces.accessFor(check.claims as unknown as AccessClaims) };
  }

  private admit(req: UpgradeReq, socket: Duplex, head: Buffer, key: string | undefined, canUse: ((channel: string) => boolean) | undefined, tokenExp: number, sub: string | undefined): void {
    if (this.admission.tryAdmit()) {
      this.handshake(req, socket, head, key, canUse, tokenExp, sub);
      return;
    }
    const c = this.counters;
    const s = this.settings;
    let answered = false;
    let cancel = noop;
    const onGoneWhileWaiting = (): void => cancel();
    cancel = this.admission.request((outcome) => {
      answered = true;
      socket.removeListener('close', onGoneWhileWaiting);
      if (outcome === 'admitted') {
        this.handshake(req, socket, head, key, canUse, tokenExp, sub);
      } else if (outcome === 'closed') {
        c.rejectedShuttingDown++;
        rejectUpgrade(socket, 503, 'FG_ERR_SHUTTING_DOWN', 'server is shutting down', s.retryAfter);
      } else {
        if (outcome === 'timeout') c.rejectedAdmissionTimeout++;
        else c.rejectedOverCapacity++;
        rejectUpgrade(
          socket, 503, 'FG_ERR_OVER_CAPACITY',
          outcome === 'timeout' ? `no connection slot freed within ${s.admissionTimeout} ms` : `all ${this.capacity.maxConnections} connection slots are taken`,
          s.retryAfter,
        );
      }
    });
    if (!answered) socket.once('close', onGoneWhileWaiting);
  }

  private handshake(req: UpgradeReq, socket: Duplex, head: Buffer, key: string | undefined, canUse: ((channel: string) => boolean) | undefined, tokenExp: number, sub: string | undefined): void {
    if (socket.destroyed) {
      this.admission.handshakeFailed();
      this.counters.handshakeFailures++;
      return;
    }
    if (key !== undefined) {
      this.fastHandshake(socket as Socket, head, key, canUse, tokenExp, sub);
      return;
    }
    const onEarlyClose = (): void => {
      this.counters.handshakeFailures++;
      this.admission.handshakeFailed();
    };
    socket.once('close', onEarlyClose);
    // the 101 answer and the welcome frame leave in one write
    (socket as Socket).cork();
    this.wss.handleUpgrade(req as IncomingMessage, socket, head, (ws) => {
      socket.removeListener('close', onEarlyClose);
      this.admission.handshakeSucceeded();
      this.counters.admitted++;
      const tracked = ws as TrackedSocket;
      if (sub !== undefined) tracked[kSub] = sub;
      this.onWebSocket(tracked, canUse, tokenExp);
    });
    if (!socket.destroyed) (socket as Socket).uncork();
  }

  /**
   * The handshake of a request the fast path read: the same checks ws's handleUpgrade makes were
   * made by the parser; the 101 and the welcome frame leave in one write, then ws takes the socket.
   */
  private fastHandshake(socket: Socket, head: Buffer, key: string, canUse: ((channel: string) => boolean) | undefined, tokenExp: number, sub: string | undefined): void {
    // as ws does: a client that already sent its FIN gets no WebSocket
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      this.admission.handshakeFailed();
      this.counters.handshakeFailures++;
      return;
    }
    const ws = serverWebSocket(this.wss) as TrackedSocket;
    const session = this.newSession(ws, canUse, tokenExp);
    socket.write(upgradeResponse(acceptKey(key), this.welcomeText.text(session.id, tokenExp)), 'latin1');
    this.counters.messagesOut++;
    socket.removeListener('error', noop);
    attachSocket(ws, this.wss, socket, head);
    this.admission.handshakeSucceeded();
    this.counters.admitted++;
    if (sub !== undefined) ws[kSub] = sub;
    this.track(ws, session);
    socket.resume(); // paused since the request was read; ws's 'data' listener does not resume it
  }

  private welcome(session: Session, tokenExp: number): ServerFrame {
    return WelcomeText.frame(this.welcomeFields, session.id, tokenExp);
  }

  private newSession(ws: TrackedSocket, canUse: ((channel: string) => boolean) | undefined, tokenExp: number): Session {
    const session = new Session((this.nextSessionId++).toString(36), ws, this.ctx, canUse);
    session.tokenExp = tokenExp;
    return session;
  }

  /** From here the session receives the socket's events and is counted and swept. */
  private track(ws: TrackedSocket, session: Session): void {
    const sub = ws[kSub];
    if (sub !== undefined) session.tokenSub = sub; // presence lists connections by their token's sub
    if (this.ipLimits.active) session.ip = ipKey((ws as unknown as { _socket?: Socket })._socket?.remoteAddress);
    ws[kSession] = session;
    this.sessions.add(session);
    if (this.sessions.size > this.peak) this.peak = this.sessions.size;
    ws.on('message', onWsMessage);
    ws.on('ping', onWsPing);
    ws.on('error', onWsError); // errors end in 'close'; ws has already picked the close code
    // 'close' comes once; `once` would add a wrapper object and a bound function per connection
    ws.on('close', onWsClose);
    const internals = ws as unknown as { _receiver?: EventEmitter; _socket?: EventEmitter };
    compactListeners(ws);
    compactListeners(internals._receiver);
    compactListeners(internals._socket);
  }

  private onWebSocket(ws: TrackedSocket, canUse: ((channel: string) => boolean) | undefined, tokenExp: number): void {
    const session = this.newSession(ws, canUse, tokenExp);
    this.track(ws, session);
    session.send(this.welcome(session, tokenExp));
  }

  /** Channels with subscribers on this process (GET /api/channels). */
  channelList(): { channel: string; subscribers: number }[] {
    return this.hub.list();
  }

  /** GET /api/presence: who is on the channel over every node, when its presence is on. */
  async presenceOf(channel: string): Promise<PresenceSummary> {
    if (!this.presenceRules(channel).presence) throw new FloodgateError('FG_ERR_PRESENCE_OFF', `presence is off for channel ${channel}`);
    return this.broker.presence(channel, this.settings.presenceLimit);
  }

  /** POST /api/disconnect on this process: closes every connection of `sub` with 4003. */
  disconnectUser(sub: string): number {
    let closed = 0;
    for (const sess of this.sessions) {
      if (sess.closing || (sess.ws as TrackedSocket)[kSub] !== sub) continue;
      sess.closeWith(CloseCode.DISCONNECTED, 'disconnected by the application');
      closed++;
    }
    return closed;
  }

  /** Once a second over all sessions: idle, slow consumers, stalled writes, pings. */
  private sweep(): void {
    const now = monoMs();
    const s = this.settings;
    const c = this.counters;
    if (this.ipLimits.active) this.ipLimits.sweep(now);
    const nowSeconds = Date.now() / 1000;
    // how early a ping may leave with a publication rather than alone: one sweep (1 s) ahead of
    // its time, up to a fifth of the interval or 2 s (earlier pings would mean more pongs to read)
    const pingWindow = Math.min(2000, Math.max(1000, s.pingInterval / 5));
    for (const sess of this.sessions) {
      if (sess.closing) continue;
      if (sess.tokenExp > 0 && sess.tokenExp <= nowSeconds) {
        // docs/protocol.md: an expired token closes with 4001 (refresh before it, with a `refresh` frame)
        c.closedTokenExpired++;
        sess.closeWith(CloseCode.UNAUTHORIZED, 'token expired');
        continue;
      }
      const ws = sess.ws;
      const sock = (ws as unknown as { _socket?: Socket })._socket;
      if (!sock) continue;
      // any byte in (frame, pong, ping) is a sign of life: no listener per connection needed
      const read = sock.bytesRead % WRAP;
      if (read !== sess.lastRead) {
        sess.lastRead = read;
        sess.lastSeen = now;
      } else if (now - sess.lastSeen > s.idleTimeout) {
        c.closedIdleTimeout++;
        sess.closeWith(CloseCode.IDLE_TIMEOUT, 'idle timeout');
        continue;
      }
      if (ws.bufferedAmount > s.maxBufferedBytes) {
        if (++sess.overLimitChecks >= s.slowConsumerChecks) {
          c.closedSlowConsumer++;
          sess.closeWith(CloseCode.SLOW_CONSUMER, 'slow consumer');
          continue;
        }
      } else {
        sess.overLimitChecks = 0;
      }
      if (sock.writableLength > 0) {
        // bytes the kernel has taken; unchanged while data waits = no progress
        const flushed = (sock.bytesWritten - sock.writableLength) % WRAP;
        if (flushed !== sess.lastFlushed) {
          sess.lastFlushed = flushed;
          sess.stalledSince = now;
        } else if (now - sess.stalledSince > s.writeTimeout) {
          c.closedWriteTimeout++;
          sess.closeWith(CloseCode.WRITE_TIMEOUT, 'write timeout');
          continue;
        }
      } else if (sess.lastFlushed !== -1) {
        sess.lastFlushed = -1;
      }
      const sincePing = now - sess.lastPing;
      if (sincePing >= s.pingInterval) {
        sess.lastPing = now;
        sess.ping();
      } else if (sincePing >= s.pingInterval - pingWindow) {
        sess.pingSoon = true; // a publication in the next moments carries it (Session.write)
      }
    }
  }

  stats(): GatewayStats {
    const c = this.counters;
    // process.memoryUsage() reads /proc and throws EMFILE when the process is out of fds: stats
    // are read from timers (dashboard feed, metrics), where a throw would end the process
    let mem = this.lastMemory;
    try {
      mem = process.memoryUsage();
      this.lastMemory = mem;
    } catch {
      /* keep the last reading */
    }
    return {
      node: this.node,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      shuttingDown: this.shuttingDown,
      listener: {
        host: this.host, port: this.port, backlogRequested: this.settings.backlog,
        backlogEffective: this.backlogEffective, somaxconn: this.somaxconn,
      },
      connections: {
        current: this.sessions.size, peak: this.peak, cap: this.capacity.maxConnections, capOrigin: this.capacity.origin,
        handshaking: this.admission.handshaking, waiting: this.admission.waiting, accepting: this.acceptBacklog,
      },
      admission: {
        admitted: c.admitted,
        admittedAfterWait: this.admission.counters.admittedAfterWait,
        rejected: {
          over_capacity: c.rejectedOverCapacity, admission_timeout: c.rejectedAdmissionTimeout, accept_timeout: c.rejectedAcceptTimeout, fd_budget: c.rejectedFdBudget, shutting_down: c.rejectedShuttingDown,
          unauthorized: c.rejectedUnauthorized, forbidden_origin: c.rejectedForbiddenOrigin,
        },
        handshakeFailures: c.handshakeFailures,
        handshakeTimeouts: c.handshakeTimeouts,
        handedOff: c.handedOff,
        adopted: c.adopted,
      },
      closed: {
        slow_consumer: c.closedSlowConsumer, write_timeout: c.closedWriteTimeout, idle_timeout: c.closedIdleTimeout,
        rate_limited: c.closedRateLimited, bad_frames: c.closedBadFrames,
        protocol_error: c.closedProtocolError, invalid_utf8: c.closedInvalidUtf8, message_too_big: c.closedTooBig,
        token_expired: c.closedTokenExpired,
      },
      messages: {
        in: c.messagesIn, out: c.messagesOut, publicationWrites: c.publicationWrites, publications: c.publications, publishFailures: c.publishFailures, duplicatePublishes: c.duplicatePublishes,
        rateLimited: c.rateLimitedMessages, badFrames: c.badFrames, replayRequests: c.replayRequests,
        replayedMessages: c.replayedMessages, recoveryFailures: c.recoveryFailures,
        internalErrors: c.internalErrors, pingsIn: c.pingsIn, refreshes: c.refreshes, refreshFailures: c.refreshFailures,
        presenceRequests: c.presenceRequests, presenceFailures: c.presenceFailures,
      },
      channels: { local: this.hub.channelCount, subscriptions: this.hub.subscriptions },
      http: { refused: { ...c.http } },
      perIp: { addresses: this.ipLimits.addresses, refusedConnections: this.ipLimits.refusedConnections, refusedPublishes: this.ipLimits.refusedPublishes },
      broker: this.broker.stats(),
      memory: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, external: mem.external, arrayBuffers: mem.arrayBuffers, limit: this.memory.bytes, limitSource: this.memory.source,
        youngGeneration: youngGenerationBytes(), youngReleases: this.youngRelease.released,
      },
      fds: { open: countOpenFds(), limit: this.fdLimit },
    };
  }

  /**
   * Graceful shutdown: stop accepting, answer waiting upgrades 503, close every client with
   * 1001 (going away), and cut off whoever has not closed within the timeout.
   */
  close(timeoutMs: number = this.settings.shutdownTimeout): Promise<void> {
    this.closing ??= this.doClose(timeoutMs);
    return this.closing;
  }

  private async doClose(timeoutMs: number): Promise<void> {
    this.shuttingDown = true;
    this.health?.beat(); // the balancer's next check already says shutting_down
    this.admission.close();
    const serverClosed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    this.server.close();
    // close() waits for idle keep-alive HTTP connections (e.g. a /metrics scraper) to time out
    this.server.closeIdleConnections();
    for (let i = this.acceptHead; i < this.acceptQueue.length; i++) this.acceptQueue[i].destroy();
    this.acceptQueue.length = 0;
    this.acceptHead = 0;
    clearInterval(this.sweepTimer);
    clearInterval(this.preUpgradeTimer);
    // the deadline below cuts off whoever is left; a shorter per-session grace would make
    // shutdownTimeout meaningless past 1 s (a slow reader gets its close frame late)
    for (const sess of this.sessions) sess.closeWith(CloseCode.GOING_AWAY, 'server shutting down', timeoutMs);
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const sess of this.sessions) sess.ws.terminate();
    this.server.closeAllConnections();
    // whatever is left (kept-alive HTTP clients, sockets mid-handshake) goes now: the listener's
    // close waits for every socket it accepted
    for (const sock of this.httpSockets.keys()) sock.destroy();
    for (const sock of this.preUpgrade.keys()) sock.destroy();
    this.preUpgrade.clear();
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([serverClosed, new Promise<void>((r) => (bound = setTimeout(r, 1000)))]);
    clearTimeout(bound);
    await this.health?.close();
    await this.admin.close();
    this.tokens?.close();
    this.tls?.close();
    await this.broker.close();
    this.log.info({ node: this.node }, 'gateway stopped');
    this.log.flush?.();
  }
}

function createBroker(settings: Readonly<ServerSettings>, namespaces: ChannelNamespaces, log: Logger): Broker {
  // each channel's history bounds come from its namespace, else from the top-level settings
  const limits = namespaces.historyFor;
  if (settings.broker === 'memory') return new MemoryBroker(limits, settings.idempotencyWindow, { historyMemory: settings.historyMemory, maxChannels: settings.maxChannels, maxIdempotencyKeys: settings.maxIdempotencyKeys });
  const problem = settings.broker === 'memory' ? undefined : brokerUrlProblem(settings.broker);
  if (problem === undefined) return new RedisBroker({ url: settings.broker, limits, log, idempotencyWindowMs: settings.idempotencyWindow, historyMemory: settings.historyMemory, maxChannels: settings.maxChannels, maxIdempotencyKeys: settings.maxIdempotencyKeys, presenceTtlMs: settings.presenceTtl });
  throw new FloodgateError(
    'FG_ERR_INVALID_CONFIG',
    `Invalid value for \`broker\`: expected ${BROKER_URL_FORM}, got \`${redactBrokerUrl(settings.broker)}\` (${problem})`,
  );
}

/** Resolves and validates the settings, then starts a gateway. */
export async function createGateway(options: GatewayOptions = {}, sources: GatewaySources = {}): Promise<Gateway> {
  const input: ResolveInput = { options: options as Record<string, unknown>, env: sources.env, file: sources.file, flags: sources.flags };
  const resolved = resolveSettings<ServerSettings>(SERVER_SETTINGS, input);
  let values = resolved.values;
  if (resolved.sources.logFormat === 'default') {
    // human lines on a terminal, JSON lines for log collectors
    values = Object.freeze({ ...values, logFormat: process.stdout.isTTY ? 'pretty' : 'json' });
  }
  const gateway = new Gateway(values, resolved.sources, sources);
  await gateway.start();
  return gateway;
}
