/**
 * Every WebSocket close code Floodgate sends, in one place. 1000–1011 are RFC 6455's;
 * 4000–4999 are the application range. Clients decide on reconnect by code.
 */
export const CloseCode = {
  /** Normal close, e.g. the client asked for it. */
  NORMAL: 1000,
  /** The server is shutting down or restarting; reconnect (to another node) and recover. */
  GOING_AWAY: 1001,
  /** A frame broke the WebSocket protocol (ws closes with this itself). */
  PROTOCOL_ERROR: 1002,
  /** Invalid UTF-8 in a text frame (ws closes with this itself). */
  INVALID_PAYLOAD: 1007,
  /** A frame was larger than maxPayload (ws closes with this itself). */
  MESSAGE_TOO_BIG: 1009,
  /** An unexpected server error. */
  INTERNAL_ERROR: 1011,
  /** The connection's token expired or was revoked. Do not reconnect with the same token. */
  UNAUTHORIZED: 4001,
  /** The application's backend disconnected this user (POST /api/disconnect). Do not reconnect by itself. */
  DISCONNECTED: 4003,
  /** The connection sent too many malformed frames in a row. Do not reconnect unchanged. */
  BAD_FRAMES: 4002,
  /** The connection read too slowly: its send buffer stayed over the limit. Reconnect and recover. */
  SLOW_CONSUMER: 4008,
  /** The socket's send buffer made no progress within writeTimeout. Reconnect and recover. */
  WRITE_TIMEOUT: 4009,
  /** No frame and no pong within idleTimeout. Reconnect and recover. */
  IDLE_TIMEOUT: 4010,
  /** The connection kept sending past its rate limit. Back off before reconnecting. */
  RATE_LIMITED: 4029,
} as const;

export type CloseCodeName = keyof typeof CloseCode;

const byNumber = new Map<number, CloseCodeName>(
  Object.entries(CloseCode).map(([name, code]) => [code, name as CloseCodeName]),
);

export function closeCodeName(code: number): CloseCodeName | undefined {
  return byNumber.get(code);
}

/** Codes after which a client should reconnect (with backoff) and recover. */
export const RECONNECTABLE_CLOSE_CODES: ReadonlySet<number> = new Set([
  1001, 1005, 1006, 1011, 1012, 1013, 1014, 4008, 4009, 4010, 4029,
]);
