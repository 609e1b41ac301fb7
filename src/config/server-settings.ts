import { HISTORY_SETTINGS } from './history-settings.js';
import { NAMESPACES_ACCEPTS, parseNamespaces, type NamespaceMap } from './namespace-settings.js';
import type { SettingSpec } from './setting.js';

/** Resolved settings of `floodgate serve`. Durations are milliseconds, sizes bytes. */
export interface ServerSettings {
  host: string;
  port: number;
  backlog: number | 'max';
  maxConnections: number;
  memoryLimit: number;
  bytesPerConnection: number;
  memoryOverhead: number;
  reservedFds: number;
  admissionTimeout: number;
  admissionQueue: number;
  maxPendingHandshakes: number;
  retryAfter: number;
  handshakeTimeout: number;
  idleTimeout: number;
  pingInterval: number;
  writeTimeout: number;
  maxPayload: number;
  maxDepth: number;
  compression: boolean;
  maxBufferedBytes: number;
  slowConsumerChecks: number;
  rateBurst: number;
  rateRefill: number;
  rateLimitClose: number;
  maxSubscriptions: number;
  historySize: number;
  historyBytes: number;
  historyTtl: number;
  /** Options by channel prefix; fields left out take the top-level value (src/auth/namespaces.ts resolves them). */
  namespaces: NamespaceMap;
  idempotencyWindow: number;
  historyMemory: number;
  maxChannels: number;
  maxIdempotencyKeys: number;
  youngGeneration: 'grow' | 'small';
  presence: boolean;
  joinLeave: boolean;
  presenceLimit: number;
  presenceTtl: number;
  maxConnectionsPerIp: number;
  ipPublishRate: number;
  ipPublishBurst: number;
  authSecret: string;
  authPublicKey: string;
  authJwks: string;
  authAudience: string;
  authIssuer: string;
  authLegacyTokens: boolean;
  allowedOrigins: string[];
  shutdownTimeout: number;
  healthPort: number | 'off';
  logFormat: 'pretty' | 'json';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  broker: string;
  nodeId: string;
  workers: number | 'auto';
  workerBalance: 'auto' | 'round-robin' | 'shared' | 'reuseport';
  dashboard: 'auto' | 'on' | 'off';
  dashboardToken: string;
  adminAccess: 'auto' | 'token' | 'loopback' | 'off';
  adminHost: string;
  adminPort: number | 'off';
  adminTls: boolean;
  apiKey: string;
  apiBodyLimit: number;
  tlsCert: string;
  tlsKey: string;
}

/**
 * Server RSS per idle connection is about 5.1 KiB (benchmarks/server, docs/benchmarks.md); a live
 * connection adds send buffers and subscriptions, so capacity is planned with 8 KiB.
 */
export const MEASURED_BYTES_PER_CONNECTION = 8 * 1024;

/** Memory kept for the runtime before connections are counted; `plan` and `doctor` use the same figure. */
export const DEFAULT_MEMORY_OVERHEAD = 64 * 1024 ** 2;

export const SERVER_SETTINGS: readonly SettingSpec[] = [
  { key: 'host', kind: 'string', default: '::', doc: 'Address to listen on; `::` is dual-stack IPv4 + IPv6.' },
  { key: 'port', kind: 'int', min: 0, max: 65535, default: 8080, doc: 'TCP port; 0 picks a free one.' },
  {
    key: 'backlog', kind: 'int', min: 0, max: 2147483647, aliases: ['max'], default: 'max',
    doc: 'Listen backlog (accept-queue depth). `max` = net.core.somaxconn; 0 = the runtime default (511). The kernel caps it at somaxconn.',
  },
  { key: 'maxConnections', kind: 'int', min: 0, max: 10_000_000, default: 0, doc: 'Explicit connection cap; 0 = derive it from memory and fd limits only.' },
  { key: 'memoryLimit', kind: 'size', min: 0, default: 0, doc: 'Memory budget for the cap; 0 = cgroup limit, else physical memory.' },
  { key: 'bytesPerConnection', kind: 'size', min: 1024, max: 64 * 1024 ** 2, default: MEASURED_BYTES_PER_CONNECTION, doc: 'Memory one connection costs, for the memory-derived cap (measured default).' },
  { key: 'memoryOverhead', kind: 'size', min: 0, default: DEFAULT_MEMORY_OVERHEAD, doc: 'Memory kept for the runtime, history and buffers before connections are counted.' },
  { key: 'reservedFds', kind: 'int', min: 0, max: 100_000, default: 64, doc: 'File descriptors kept for logs, Redis, DNS etc. before the fd-derived cap.' },
  { key: 'admissionTimeout', kind: 'duration', min: 0, max: 600_000, default: 5000, doc: 'How long an upgrade may wait in the admission queue for a slot before it gets 503; 0 = never wait.' },
  { key: 'admissionQueue', kind: 'int', min: 0, max: 1_000_000, default: 1024, doc: 'How many upgrades may wait for a slot at once; past that, 503 at once.' },
  { key: 'maxPendingHandshakes', kind: 'int', min: 1, max: 1_000_000, default: 512, doc: 'Upgrades being handshaken at the same time; more wait in the admission queue.' },
  { key: 'retryAfter', kind: 'int', min: 0, max: 3600, default: 5, doc: 'Seconds in the Retry-After header of a 503.' },
  { key: 'handshakeTimeout', kind: 'duration', min: 100, max: 600_000, default: 10_000, doc: 'A connection that has not completed its HTTP upgrade (or request) by then is closed (slowloris).' },
  { key: 'idleTimeout', kind: 'duration', min: 1000, max: 86_400_000, default: 60_000, doc: 'A WebSocket with no frame and no pong for this long is terminated.' },
  { key: 'pingInterval', kind: 'duration', min: 500, max: 3_600_000, default: 25_000, doc: 'How often the server pings each WebSocket.' },
  { key: 'writeTimeout', kind: 'duration', min: 100, max: 600_000, default: 10_000, doc: 'A socket whose send buffer makes no progress for this long is closed.' },
  { key: 'maxPayload', kind: 'size', min: 64, max: 64 * 1024 ** 2, default: 16 * 1024, doc: 'Largest inbound frame; larger ones close the connection with 1009.' },
  {
    key: 'maxDepth', kind: 'int', min: 2, max: 256, default: 32,
    doc: 'Deepest nesting of arrays/objects in an inbound frame (the frame itself is level 1); deeper frames get an `error` FG_ERR_BAD_FRAME and are dropped.',
  },
  { key: 'compression', kind: 'boolean', default: false, doc: 'permessage-deflate; off by default because of its memory cost per connection.' },
  { key: 'maxBufferedBytes', kind: 'size', min: 1024, max: 1024 ** 3, default: 1024 ** 2, doc: 'Send-buffer bound per connection; over it, the connection is a slow consumer.' },
  { key: 'slowConsumerChecks', kind: 'int', min: 1, max: 1000, default: 3, doc: 'Consecutive 1-second checks over maxBufferedBytes before a slow consumer is closed (4× the bound closes at once).' },
  { key: 'rateBurst', kind: 'int', min: 1, max: 1_000_000, default: 100, doc: 'Token-bucket size for inbound messages per connection.' },
  { key: 'rateRefill', kind: 'number', min: 0.001, max: 1_000_000, default: 10, doc: 'Tokens added per second.' },
  { key: 'rateLimitClose', kind: 'int', min: 0, max: 1_000_000, default: 50, doc: 'Rate-limited messages in a row before the connection is closed; 0 = never close.' },
  { key: 'maxSubscriptions', kind: 'int', min: 1, max: 100_000, default: 100, doc: 'Channels one connection may subscribe to.' },
  ...HISTORY_SETTINGS,
  {
    key: 'namespaces', kind: 'map', default: {}, parseMap: parseNamespaces, acceptsDoc: NAMESPACES_ACCEPTS,
    doc: 'Channel options by name prefix (`chat:`, `prices:`): history bounds, client publishing, presence, join/leave, required token claims. The longest matching prefix wins; other channels use the top-level settings. See "Channel namespaces" below.',
  },
  {
    key: 'idempotencyWindow', kind: 'duration', min: 0, max: 86_400_000, default: 300_000,
    doc: 'How long a publish `idempotencyKey` (and a publisher\'s `seq`) is remembered per channel: a retry within it answers the original offset instead of publishing again; 0 = off.',
  },
  {
    key: 'historyMemory', kind: 'size', min: 0, max: 64 * 1024 ** 3, default: 64 * 1024 ** 2,
    doc: 'History bytes kept over all channels (memory broker: in this process, or in the primary with `--workers`; redis: in Redis, shared by every node); past it the least recently used channels (published to, subscribed or recovered from) lose their history (their next recovery answers `history_gone`). 0 = no bound.',
  },
  {
    key: 'maxChannels', kind: 'int', min: 0, max: 100_000_000, default: 100_000,
    doc: 'Channels held at once (memory broker: a publish or subscribe that would create another; redis: a publish that would add another channel with history in Redis) gets FG_ERR_TOO_MANY_CHANNELS. Channels nobody subscribes to are freed once their history has expired (historyTtl; 10 min when it is 0). 0 = no cap.',
  },
  {
    key: 'maxIdempotencyKeys', kind: 'int', min: 0, max: 100_000_000, default: 1_000_000,
    doc: 'Idempotency keys and publisher seqs remembered at once within `idempotencyWindow`, over all channels (memory broker: in this process, or in the primary with `--workers`; redis: in Redis, shared by every node). A publish that would add one more (a new `idempotencyKey`, or a `publisher` not seen within the window) gets FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS and is not published; other publishes go on. 0 = no cap.',
  },
  {
    key: 'youngGeneration', kind: 'enum', values: ['grow', 'small'], default: 'small',
    doc: 'V8\'s young generation (where new objects start): `small` = it stays at its start size (less memory at the peak of a flood or a burst of handshakes, more frequent but smaller collections); `grow` = V8\'s default, it grows to 32 MiB under load and the gateway hands it back after a few quiet seconds (`npm run bench -- memory` measures both sides). A `--max-semi-space-size` or `--semi-space-growth-factor` given to Node (NODE_OPTIONS) wins over it. See "Memory" below.',
  },
  {
    key: 'presence', kind: 'boolean', default: false,
    doc: 'Presence on every channel (channel namespaces may override it): a subscriber may ask who is subscribed with a `presence` frame; off = FG_ERR_PRESENCE_OFF, and nothing is recorded (docs/protocol.md).',
  },
  {
    key: 'joinLeave', kind: 'boolean', default: false,
    doc: 'Join/leave messages on every channel (channel namespaces may override it): each subscribe and each leave (unsubscribe, close) of a connection is announced to the channel\'s other subscribers on every node.',
  },
  { key: 'presenceLimit', kind: 'int', min: 1, max: 100_000, default: 1000, doc: 'Most `sub`s listed in a `presence` answer (the counts cover all); past it the answer says `truncated: true`.' },
  {
    key: 'presenceTtl', kind: 'duration', min: 3000, max: 3_600_000, default: 60_000,
    doc: 'Redis broker: how long a node\'s presence entries live in Redis without a refresh (each node refreshes its own every third of it), so the entries of a node that died without closing vanish within this time.',
  },
  { key: 'maxConnectionsPerIp', kind: 'int', min: 0, max: 10_000_000, default: 0, doc: 'TCP connections one client IP address may hold, counted from accept (upgraded or not, so silent sockets count); more get HTTP 429 FG_ERR_IP_CONNECTIONS at once. An IPv6 client counts per /64, `::ffff:a.b.c.d` as `a.b.c.d`; with `workers` the cap holds per worker. 0 = off (behind a proxy every client has its address).' },
  { key: 'ipPublishRate', kind: 'number', min: 0, max: 1_000_000, default: 0, doc: 'Publishes per second one client IP address (IPv6: per /64) may make over all its connections (a reconnect does not refill it); more get FG_ERR_IP_RATE_LIMITED. With `workers` it holds per worker. 0 = off.' },
  { key: 'ipPublishBurst', kind: 'int', min: 1, max: 1_000_000, default: 200, doc: 'Bucket size of `ipPublishRate`.' },
  { key: 'authSecret', kind: 'string', default: '', doc: 'Shared secret for HS256/384/512 JWT connection tokens. No authSecret, authPublicKey or authJwks = no token check.' },
  { key: 'authPublicKey', kind: 'string', default: '', doc: 'PEM file with the public key (or certificate) for RS*/PS*/ES*/EdDSA JWT connection tokens.' },
  { key: 'authJwks', kind: 'string', default: '', doc: 'JWKS file (`{"keys": […]}`) for JWT connection tokens, picked by `kid`; reread when the file changes.' },
  { key: 'authAudience', kind: 'string', default: '', doc: 'When set, a token\'s `aud` must contain it.' },
  { key: 'authIssuer', kind: 'string', default: '', doc: 'When set, a token\'s `iss` must equal it.' },
  { key: 'authLegacyTokens', kind: 'boolean', default: false, doc: 'Also accept the pre-JWT HMAC token format (with authSecret) while issuers migrate (docs/protocol.md).' },
  { key: 'allowedOrigins', kind: 'list', default: [], doc: 'Origins allowed to upgrade (browsers send Origin); empty = any.' },
  { key: 'shutdownTimeout', kind: 'duration', min: 0, max: 600_000, default: 10_000, doc: 'On SIGTERM/SIGINT: how long to wait for clients to close before exiting.' },
  {
    key: 'healthPort', kind: 'int', min: 0, max: 65535, aliases: ['off'], default: 'off',
    doc: 'A second port that answers only `/healthz`, from its own thread: load-balancer checks are not queued behind the gateway\'s work, so a busy gateway is not marked down (a loop stalled for 5 s is). 0 = any free port. With `workers`, the first worker answers on it. It holds at most 16 connections at once (more are closed as they come) and closes a request not complete within 2 s, so it cannot take the process\'s file descriptors.',
  },
  { key: 'logFormat', kind: 'enum', values: ['pretty', 'json'], default: 'pretty', defaultDoc: '`pretty` on a TTY, else `json`', doc: 'Startup block and log format.' },
  { key: 'logLevel', kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', doc: 'Log level.' },
  {
    key: 'broker', kind: 'string', default: 'memory',
    doc: 'Message broker: `memory` (one process; with `workers` > 1 the primary process holds it for all workers) or `redis://host:port[/db]` (several processes or machines share channels through Redis).',
  },
  { key: 'nodeId', kind: 'string', default: '', defaultDoc: 'hostname:pid', doc: 'Name of this node in stats and logs.' },
  {
    key: 'workers', kind: 'int', min: 1, max: 256, aliases: ['auto'], default: 1,
    doc: 'Worker processes serving the one port; `auto` = one per CPU core. The connection cap is per machine: split across workers (docs/operations.md).',
  },
  {
    key: 'workerBalance', kind: 'enum', values: ['auto', 'round-robin', 'shared', 'reuseport'], default: 'auto',
    doc: 'How workers share the port: `round-robin` (the primary accepts and hands connections out), `shared` (every worker accepts on one socket), `reuseport` (one socket per worker, Node >= 22.12). `auto` picks by the measurements in docs/operations.md.',
  },
  {
    key: 'dashboard', kind: 'enum', values: ['auto', 'on', 'off'], default: 'auto',
    doc: 'GET /dashboard (live page): `auto` = on when `dashboardToken` is set or the host is loopback (127.0.0.1, ::1, localhost), else off; `on` = always (no token needed unless set); `off` = 404.',
  },
  { key: 'dashboardToken', kind: 'string', default: '', doc: 'Token the dashboard asks for (`?token=` or header `x-floodgate-token`); setting it turns the dashboard on for any host.' },
  {
    key: 'adminAccess', kind: 'enum', values: ['auto', 'token', 'loopback', 'off'], default: 'auto',
    doc: 'Who may read /stats, /stats/machine, /metrics and /dashboard: `token` = requests with `dashboardToken` (`?token=`, `x-floodgate-token`, `Authorization: Bearer`); `loopback` = peers on this machine only; `off` = anyone. `auto` = `token` when `dashboardToken` is set, else `loopback`. Refusals are 403 FG_ERR_ADMIN_FORBIDDEN; /healthz stays open.',
  },
  { key: 'adminHost', kind: 'string', default: '127.0.0.1', doc: 'Address of the admin listener (only used when `adminPort` is set).' },
  {
    key: 'adminPort', kind: 'int', min: 0, max: 65535, aliases: ['off'], default: 'off',
    doc: 'Admin listener port: `/metrics`, `/stats`, `/stats/machine`, `/dashboard` and the server API move there (`/healthz` stays on both); `off` = served on the public port; 0 picks a free one. With `workers` > 1 the workers share this one port (docs/api.md).',
  },
  { key: 'adminTls', kind: 'boolean', default: false, doc: 'Serve the admin listener over HTTPS too, with the certificate of tlsCert/tlsKey.' },
  { key: 'apiKey', kind: 'string', default: '', doc: 'Key backends send as `X-API-Key` to use the server API (`/api/*`); empty = the API is off (docs/api.md).' },
  { key: 'apiBodyLimit', kind: 'size', min: 1024, max: 64 * 1024 ** 2, default: 1024 ** 2, doc: 'Largest request body the server API reads; larger ones get 413 FG_ERR_API_BODY_TOO_LARGE.' },
  { key: 'tlsCert', kind: 'string', default: '', doc: 'PEM certificate (chain) file: the public listener serves wss:// and https://. Reloaded on SIGHUP or when the file changes; open connections stay.' },
  { key: 'tlsKey', kind: 'string', default: '', doc: 'PEM private key file for tlsCert.' },
];
