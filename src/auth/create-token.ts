import { createHmac, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/** Claims of a connection token (docs/protocol.md, "Tokens"). */
export interface TokenClaims {
  /** Who the client is: logged, and what POST /api/disconnect matches. */
  sub?: string;
  /** Expiry, seconds since the Unix epoch. Required: a token that never expires is refused. */
  exp: number;
  /** Not before, seconds since the Unix epoch. */
  nbf?: number;
  /** Issued at, seconds since the Unix epoch. */
  iat?: number;
  /** Checked when the gateway has authAudience / authIssuer. */
  aud?: string | string[];
  iss?: string;
  /** Allowed channels; an entry ending in `*` is a prefix. Absent = all channels. */
  channels?: string[];
}

export type HmacAlgorithm = 'HS256' | 'HS384' | 'HS512';

const HASH: Record<HmacAlgorithm, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A standard JWT (RFC 7519) signed with the shared secret of `floodgate serve --auth-secret`.
 * Synchronous on purpose (node:crypto HMAC): tests and token endpoints call it in a loop. Any
 * JWT library verifies it, and the gateway verifies it with `jose`.
 */
export function createToken(secret: string, claims: TokenClaims, options: { alg?: HmacAlgorithm; kid?: string } = {}): string {
  const alg = options.alg ?? 'HS256';
  const header = options.kid === undefined ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid: options.kid };
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac(HASH[alg], secret).update(input).digest('base64url')}`;
}

/** A JWT signed with a private key (RS256, PS256, ES256, EdDSA, …), for backends and tests. */
export async function signToken(privateKey: KeyObject | CryptoKey, claims: TokenClaims, options: { alg: string; kid?: string }): Promise<string> {
  const { exp, ...rest } = claims;
  const jwt = new SignJWT({ ...rest }).setProtectedHeader(options.kid === undefined ? { alg: options.alg, typ: 'JWT' } : { alg: options.alg, typ: 'JWT', kid: options.kid });
  return jwt.setExpirationTime(exp).sign(privateKey);
}
