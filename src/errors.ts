/**
 * Every error Floodgate raises or sends carries one of these stable codes.
 * Users match on `code`, never on message text. docs/errors.md lists each code;
 * test/errors.test.ts fails when the two drift apart.
 */
export const ErrorCodes = {
  // configuration and startup
  FG_ERR_INVALID_CONFIG: 'A setting has a value outside its accepted range or of the wrong type.',
  FG_ERR_CONFIG_FILE: 'The config file could not be read or is not valid JSON.',
  FG_ERR_LISTEN: 'The server could not listen on the requested host and port.',
  FG_ERR_CAPACITY: 'The computed connection cap is zero: the memory or fd limit leaves no room for connections.',
  // protocol, sent to clients in `error` frames
  FG_ERR_BAD_FRAME: 'An inbound frame is not valid JSON, nests deeper than maxDepth, or does not match the protocol.',
  FG_ERR_BINARY_FRAME: 'A binary frame was received; the protocol uses JSON text frames only.',
  FG_ERR_UNKNOWN_TYPE: 'An inbound frame has a `type` the server does not know.',
  FG_ERR_BAD_CHANNEL: 'A channel name is empty, too long or has characters outside the allowed set.',
  FG_ERR_NOT_SUBSCRIBED: 'Unsubscribe or presence for a channel the connection is not subscribed to.',
  FG_ERR_ALREADY_SUBSCRIBED: 'Subscribe for a channel the connection is already subscribed to.',
  FG_ERR_TOO_MANY_SUBSCRIPTIONS: 'The connection holds the maximum number of subscriptions.',
  FG_ERR_RATE_LIMITED: 'The connection sent messages faster than its token bucket allows; the message was dropped.',
  FG_ERR_FORBIDDEN_CHANNEL: 'The token does not allow this channel.',
  FG_ERR_PUBLISH_FORBIDDEN: "Clients may not publish on this channel: its namespace is server-publish only (`clientPublish: false`); the application's backend publishes through POST /api/publish.",
  FG_ERR_PUBLISH_TOO_LARGE: 'A publication is larger than the history byte bound of its channel.',
  FG_ERR_PUBLISH_FAILED: 'The publication was definitely not published (the broker refused it, or the client never sent it); sending it again cannot make a duplicate.',
  FG_ERR_PUBLISH_UNKNOWN: 'The outcome of a publish is unknown (a timeout or a lost connection after it was sent): it may or may not have been published.',
  FG_ERR_PUBLISH_OUT_OF_ORDER: "The publication's publisher sequence number is not above the last one applied on its channel (a stale frame from an abandoned connection); it was not published.",
  FG_ERR_TOO_MANY_CHANNELS: 'The gateway holds maxChannels channels; a publish or subscribe that would create another is refused.',
  FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS: 'The broker holds maxIdempotencyKeys idempotency keys and publisher seqs within idempotencyWindow; a publish that would add another is refused (not published).',
  FG_ERR_IP_RATE_LIMITED: "The client's IP address published faster than ipPublishRate allows, over all its connections; the publication was dropped.",
  FG_ERR_RECOVERY_FAILED: 'History recovery was asked for but could not be served.',
  FG_ERR_PRESENCE_OFF: 'A presence request for a channel whose presence is off.',
  FG_ERR_PRESENCE_UNAVAILABLE: 'A presence request the broker could not answer (Redis or the primary process unreachable, or no answer in time).',
  // upgrade / admission (HTTP status answers, also counted in /stats)
  FG_ERR_UNAUTHORIZED: 'The upgrade request has no token, or the token is malformed, badly signed or expired.',
  FG_ERR_FORBIDDEN_ORIGIN: 'The Origin header of the upgrade request is not in the allowlist.',
  FG_ERR_OVER_CAPACITY: 'All connection slots are taken and the admission queue is full or timed out (HTTP 503).',
  FG_ERR_IP_CONNECTIONS: 'The client IP address already holds maxConnectionsPerIp connections (HTTP 429).',
  FG_ERR_SHUTTING_DOWN: 'The server is shutting down and admits no new connections (HTTP 503).',
  FG_ERR_NOT_FOUND: 'An HTTP request for a path the gateway does not serve.',
  FG_ERR_UPGRADE_REQUIRED: 'A plain HTTP request for a WebSocket path: connect with a WebSocket client (HTTP 426).',
  FG_ERR_BAD_REQUEST: 'A malformed HTTP request or WebSocket upgrade, or one without a Host header (HTTP 400).',
  FG_ERR_METHOD_NOT_ALLOWED: 'An HTTP method the path does not serve, e.g. a WebSocket upgrade that is not GET (HTTP 405).',
  FG_ERR_URI_TOO_LONG: "The request line (URL) is longer than the HTTP parser accepts (HTTP 414).",
  FG_ERR_HEADERS_TOO_LARGE: 'The request headers are larger than the HTTP parser accepts (HTTP 431).',
  FG_ERR_HTTP_TIMEOUT: 'The HTTP request or upgrade did not complete within handshakeTimeout (HTTP 408, slowloris).',
  FG_ERR_STATS_UNAVAILABLE: 'The machine-wide stats could not be collected from the primary process (HTTP 503).',
  FG_ERR_INTERNAL: 'An unexpected server error while answering an HTTP request or handling one frame.',
  FG_ERR_DASHBOARD_OFF: 'The dashboard is turned off on this gateway (HTTP 404).',
  FG_ERR_ADMIN_FORBIDDEN: 'A request for /stats, /stats/machine, /metrics or /dashboard refused by adminAccess: no or wrong token, or not a loopback peer (HTTP 403).',
  FG_ERR_DASHBOARD_TOKEN: 'The dashboard request has no token or a wrong one (HTTP 403).',
  // server API for backends (docs/api.md)
  FG_ERR_API_OFF: 'The server API is not enabled on this gateway: no apiKey is set (HTTP 404).',
  FG_ERR_API_KEY: 'The server API request has no X-API-Key header or a wrong one (HTTP 401).',
  FG_ERR_API_BAD_REQUEST: 'The server API request body or query is not valid JSON or misses a field (HTTP 400).',
  FG_ERR_API_BODY_TOO_LARGE: 'The server API request body is larger than apiBodyLimit (HTTP 413).',
  FG_ERR_API_METHOD: 'The server API path exists but not with this HTTP method (HTTP 405).',
  FG_ERR_ADMIN_ONLY: 'The path is served on the admin listener (adminPort), not on the public port (HTTP 404).',
  // client SDK
  FG_ERR_CLIENT_CLOSED: 'The client was closed by the application; the operation cannot proceed.',
  FG_ERR_CONNECT_TIMEOUT: 'The connection or handshake did not complete in time.',
  FG_ERR_CIRCUIT_OPEN: 'The client stopped reconnecting because the endpoint kept failing (circuit breaker open).',
  FG_ERR_NOT_READY: 'The client did not reach the connected state within the given time.',
  FG_ERR_SERVER_ERROR: 'The server answered an operation with an error frame.',
  FG_ERR_CONNECT_FAILED: 'The connection attempt failed (refused, reset, DNS, TLS or a refused upgrade) before the welcome frame.',
  FG_ERR_UPSTREAM_UNAVAILABLE: "A proxy or load balancer in front of the gateway refused the upgrade (HTTP 502/503/504 without the gateway's JSON body).",
  FG_ERR_PAYLOAD_TOO_LARGE: "A publish frame would be larger than the server's maxPayload; it was not sent.",
  FG_ERR_DISCONNECTED: 'The application disconnected this user through the server API (close code 4003); the client does not reconnect.',
  FG_ERR_RECONNECT_EXHAUSTED: 'The client gave up after maxAttempts failed connection attempts in a row.',
  // load generator and OS tooling
  FG_ERR_BENCH_PLAN: 'The load plan cannot fit the machine limits (fds, ports, memory).',
  FG_ERR_BENCH_TARGET: 'The load generator target URL is invalid or unsupported.',
  FG_ERR_THRESHOLD: 'A threshold expression is invalid.',
  FG_ERR_UNSUPPORTED_PLATFORM: 'This operation needs an OS facility that this platform does not have.',
  FG_ERR_NOT_ROOT: 'The operation changes kernel settings and needs root.',
  FG_ERR_RUN_FILE: 'A bench result file could not be read or has the wrong shape.',
  FG_ERR_BENCH_SYNC: 'The synchronized start of bench segments failed: Redis unreachable, a segment missing at the barrier, a late or duplicate segment, or a start time in the past.',
  FG_ERR_BENCH_MERGE: 'Bench results cannot be merged into one run: different targets or scenarios, duplicate or missing segments.',
  FG_ERR_TUNE: 'A kernel setting could not be changed or restored (sysctl -w failed, or nothing recorded to revert).',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class FloodgateError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'FloodgateError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

export function isFloodgateError(err: unknown): err is FloodgateError {
  return err instanceof FloodgateError;
}
