import { FloodgateError } from '../errors.js';
import type { JitterMode } from './backoff.js';

/** A WebSocket constructor with the browser (WHATWG) API, e.g. `globalThis.WebSocket`. */
export type WebSocketLike = new (url: string) => {
  readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
};

export interface ClientOptions {
  /** Token sent as `?token=`; a function is called before every connection attempt. @default none */
  token?: string | (() => string | Promise<string>);
  /** Connect when constructed; otherwise call `connect()`. @default true */
  autoConnect?: boolean;
  /** `auto`: in Node the `ws` package (it exposes refused-upgrade status and Retry-After), else the global WebSocket. @default 'auto' */
  transport?: 'auto' | 'ws' | 'native';
  /** A WebSocket constructor to use instead (browser API). Implies `transport: 'native'`. */
  WebSocket?: WebSocketLike;
  /** First reconnect delay, ms. @default 500 */
  initialDelay?: number;
  /** Growth factor per failed attempt. @default 1.5 */
  multiplier?: number;
  /** Longest reconnect delay, ms. @default 60000 */
  maxDelay?: number;
  /** Jitter fraction: partial mode draws from base·(1±jitter), Retry-After waits N·(1..1+jitter). @default 0.25 */
  jitter?: number;
  /** `partial` (±jitter around the base) or `full` (0…base). @default 'partial' */
  jitterMode?: JitterMode;
  /** Failed attempts in a row before giving up (state `disconnected`, error FG_ERR_RECONNECT_EXHAUSTED); 0 = unlimited. @default 0 */
  maxAttempts?: number;
  /** Random source in [0, 1) for the jitter. @default Math.random */
  random?: () => number;
  /** From opening the socket to the server's `welcome` frame, ms. @default 10000 */
  connectTimeout?: number;
  /** Send `{"type":"ping"}` after this long without any inbound frame, ms; 0 disables. @default 25000 */
  pingInterval?: number;
  /** Tear the connection down when nothing arrives this long after a ping, ms. @default 10000 */
  pongTimeout?: number;
  /** publish() / subscribe acknowledgement deadline, ms. @default 10000 */
  requestTimeout?: number;
  /** Failures within `circuitWindow` that open the circuit breaker; 0 disables it. @default 10 */
  circuitThreshold?: number;
  /** ms. @default 60000 */
  circuitWindow?: number;
  /** ms the circuit stays open before one trial attempt. @default 30000 */
  circuitCooldown?: number;
  /** How long close() waits for the server's close frame before destroying the socket, ms. @default 1000 */
  closeTimeout?: number;
  /** How many chosen reconnect delays `client.delays` keeps (newest last). @default 1000 */
  delayHistory?: number;
  /**
   * Largest server message the client reads, bytes (the `ws` transport; browsers apply their
   * own). A larger one ends the connection before it is buffered (`error` FG_ERR_BAD_FRAME, then
   * a reconnect). @default 64 MiB + 64 KiB: the largest message a gateway can send (`maxPayload`
   * and `apiBodyLimit` are at most 64 MiB). Lower it to what your channels carry.
   */
  maxMessageBytes?: number;
  /**
   * wss:// with the `ws` transport (Node): `ca` to trust a private CA or a self-signed
   * certificate, `rejectUnauthorized: false` to skip verification (tests only). Browsers use
   * their own trust store and ignore this. @default {} (verify against the system CAs)
   */
  tls?: ClientTlsOptions;
}

export interface ClientTlsOptions {
  ca?: string | Buffer | (string | Buffer)[];
  rejectUnauthorized?: boolean;
}

export interface ResolvedClientOptions extends Required<Omit<ClientOptions, 'token' | 'WebSocket'>> {
  token: ClientOptions['token'];
  WebSocket: WebSocketLike | undefined;
}

export const CLIENT_DEFAULTS = Object.freeze({
  autoConnect: true,
  transport: 'auto' as const,
  initialDelay: 500,
  multiplier: 1.5,
  maxDelay: 60_000,
  jitter: 0.25,
  jitterMode: 'partial' as const,
  maxAttempts: 0,
  connectTimeout: 10_000,
  pingInterval: 25_000,
  pongTimeout: 10_000,
  requestTimeout: 10_000,
  circuitThreshold: 10,
  circuitWindow: 60_000,
  circuitCooldown: 30_000,
  closeTimeout: 1000,
  delayHistory: 1000,
  maxMessageBytes: 64 * 1024 * 1024 + 64 * 1024,
  tls: Object.freeze({}) as ClientTlsOptions,
});

const MAX_TIMER = 2_147_483_647; // setTimeout's ceiling

const NUMERIC: [keyof typeof CLIENT_DEFAULTS, number, number, boolean][] = [
  // key, min, max, integer
  ['initialDelay', 0, MAX_TIMER, false],
  ['multiplier', 1, 100, false],
  ['maxDelay', 0, MAX_TIMER, false],
  ['jitter', 0, 1, false],
  ['maxAttempts', 0, Number.MAX_SAFE_INTEGER, true],
  ['connectTimeout', 1, MAX_TIMER, false],
  ['pingInterval', 0, MAX_TIMER, false],
  ['pongTimeout', 1, MAX_TIMER, false],
  ['requestTimeout', 1, MAX_TIMER, false],
  ['circuitThreshold', 0, 1_000_000, true],
  ['circuitWindow', 1, MAX_TIMER, false],
  ['circuitCooldown', 0, MAX_TIMER, false],
  ['closeTimeout', 0, MAX_TIMER, false],
  ['delayHistory', 0, 1_000_000, true],
  ['maxMessageBytes', 1024, 2 ** 31, true],
];

function describe(value: unknown): string {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\` (${typeof value})`;
}

function invalid(field: string, expected: string, value: unknown): FloodgateError {
  return new FloodgateError('FG_ERR_INVALID_CONFIG', `Expected \`${field}\` to be ${expected}, got ${describe(value)}`, { field, value });
}

/** Validates once and freezes; programmer errors throw here, at construction. */
export function resolveClientOptions(url: string, options: ClientOptions = {}): ResolvedClientOptions {
  if (typeof url !== 'string' || !/^wss?:\/\//i.test(url)) throw invalid('url', 'a ws:// or wss:// URL', url);
  try {
    new URL(url);
  } catch {
    throw invalid('url', 'a ws:// or wss:// URL', url);
  }
  const out: Record<string, unknown> = { ...CLIENT_DEFAULTS, random: Math.random, token: undefined, WebSocket: undefined };
  for (const [key, min, max, integer] of NUMERIC) {
    const v = options[key as keyof ClientOptions];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      throw invalid(key, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`, v);
    }
    out[key] = v;
  }
  if (options.autoConnect !== undefined) {
    if (typeof options.autoConnect !== 'boolean') throw invalid('autoConnect', 'a boolean', options.autoConnect);
    out.autoConnect = options.autoConnect;
  }
  if (options.transport !== undefined) {
    if (!['auto', 'ws', 'native'].includes(options.transport)) throw invalid('transport', "one of 'auto', 'ws', 'native'", options.transport);
    out.transport = options.transport;
  }
  if (options.jitterMode !== undefined) {
    if (options.jitterMode !== 'partial' && options.jitterMode !== 'full') throw invalid('jitterMode', "'partial' or 'full'", options.jitterMode);
    out.jitterMode = options.jitterMode;
  }
  if (options.random !== undefined) {
    if (typeof options.random !== 'function') throw invalid('random', 'a function returning a number in [0, 1)', options.random);
    out.random = options.random;
  }
  if (options.token !== undefined) {
    if (typeof options.token !== 'string' && typeof options.token !== 'function') throw invalid('token', 'a string or a function', options.token);
    out.token = options.token;
  }
  if (options.WebSocket !== undefined) {
    if (typeof options.WebSocket !== 'function') throw invalid('WebSocket', 'a WebSocket constructor', options.WebSocket);
    out.WebSocket = options.WebSocket;
    out.transport = 'native';
  }
  if (options.tls !== undefined) {
    const t = options.tls as Record<string, unknown>;
    if (t === null || typeof t !== 'object' || Object.keys(t).some((k) => k !== 'ca' && k !== 'rejectUnauthorized')) {
      throw invalid('tls', 'an object with `ca` and/or `rejectUnauthorized`', options.tls);
    }
    if (t.rejectUnauthorized !== undefined && typeof t.rejectUnauthorized !== 'boolean') throw invalid('tls.rejectUnauthorized', 'a boolean', t.rejectUnauthorized);
    out.tls = Object.freeze({ ...t });
  }
  if ((out.maxDelay as number) < (out.initialDelay as number)) {
    throw invalid('maxDelay', `a number from initialDelay (${out.initialDelay as number}) up`, out.maxDelay);
  }
  return Object.freeze(out) as unknown as ResolvedClientOptions;
}
