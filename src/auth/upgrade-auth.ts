import { createHmac, timingSafeEqual } from 'node:crypto';

/** Claims carried by a token (docs/protocol.md, "Tokens"). */
export interface TokenClaims {
  sub?: string;
  /** Expiry, seconds since the Unix epoch. */
  exp: number;
  /** Allowed channels; an entry ending in `*` is a prefix. Absent = all channels. */
  channels?: string[];
}

function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

/**
 * The pre-JWT token format (`base64url(payload).HMAC`), accepted only with authLegacyTokens
 * while issuers move to JWTs (src/auth/create-token.ts builds those).
 */
export function createLegacyToken(secret: string, claims: TokenClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${payload}.${sign(secret, payload)}`;
}

export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; reason: string };

export function verifyToken(secret: string, token: string, nowSeconds = Date.now() / 1000): TokenCheck {
  const dot = token.indexOf('.');
  if (dot <= 0) return { ok: false, reason: 'malformed token' };
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = Buffer.from(sign(secret, payload), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad signature' };
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    return { ok: false, reason: 'malformed payload' };
  }
  if (claims === null || typeof claims !== 'object') return { ok: false, reason: 'malformed payload' };
  if (typeof claims.exp !== 'number') return { ok: false, reason: 'token has no exp' };
  if (claims.exp <= nowSeconds) return { ok: false, reason: 'token expired' };
  if (claims.channels !== undefined && (!Array.isArray(claims.channels) || !claims.channels.every((c) => typeof c === 'string'))) {
    return { ok: false, reason: 'channels must be a list of strings' };
  }
  return { ok: true, claims };
}

/** The token of an upgrade request: `?token=` or `Authorization: Bearer`. */
/** From `Authorization: Bearer …` or `?token=`; any request with headers and a URL will do. */
export function tokenFromRequest(req: { headers: { authorization?: string }; url?: string }): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined && /^bearer /i.test(auth)) return auth.slice(7).trim(); // the scheme is case-insensitive
  const q = req.url?.indexOf('?') ?? -1;
  if (q >= 0) {
    const token = new URLSearchParams(req.url!.slice(q + 1)).get('token');
    if (token) return token;
  }
  return undefined;
}

/** Compiles a token's channel list into a predicate; undefined = every channel allowed. */
export function channelMatcher(patterns: string[] | undefined): ((channel: string) => boolean) | undefined {
  if (patterns === undefined) return undefined;
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  return (channel) => exact.has(channel) || prefixes.some((p) => channel.startsWith(p));
}

/** Requests without an Origin (non-browser clients) pass; browsers must match the allowlist. */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  return allowed.includes(origin) || allowed.includes('*');
}
