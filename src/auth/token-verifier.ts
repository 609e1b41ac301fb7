import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { ServerSettings } from '../config/server-settings.js';
import { FloodgateError } from '../errors.js';
import { hasLoneSurrogate } from '../protocol/frames.js';
import { verifyToken as verifyLegacyToken } from './upgrade-auth.js';
import type { TokenClaims } from './create-token.js';

export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; reason: string };

export type AuthSettings = Pick<ServerSettings, 'authSecret' | 'authPublicKey' | 'authJwks' | 'authAudience' | 'authIssuer' | 'authLegacyTokens'>;

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const KEY_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** How often a JWKS file's mtime is checked (a poll survives editors and atomic renames). */
const JWKS_POLL_MS = 1000;

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

function configError(key: string, message: string): FloodgateError {
  return new FloodgateError('FG_ERR_INVALID_CONFIG', `Invalid value for \`${key}\`: ${message}`);
}

function readPublicKey(path: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw configError('authPublicKey', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    // SPKI public key or an X.509 certificate; a private key would also yield its public half,
    // but a gateway has no business holding one
    if (/PRIVATE KEY/.test(pem)) throw new Error('the file holds a private key; give the gateway the public key only');
    return createPublicKey(pem);
  } catch (err) {
    throw configError('authPublicKey', `${path} is not a PEM public key or certificate: ${(err as Error).message}`);
  }
}

function readJwks(path: string): JWTVerifyGetKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw configError('authJwks', `cannot read ${path} as JSON: ${(err as Error).message}`);
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw configError('authJwks', `${path} must be a JWKS: {"keys": [ … at least one key … ]}`);
  try {
    return createLocalJWKSet(parsed as { keys: [] });
  } catch (err) {
    throw configError('authJwks', `${path} is not a valid JWKS: ${(err as Error).message}`);
  }
}

/** A jose failure in words a client log can show (no key material, no token content). */
function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason === 'check_failed' ? 'is not accepted' : err.reason}: ${err.message}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return `algorithm not accepted: ${err.message}`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key in the JWKS matches the token (kid/alg)';
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid) return `malformed token: ${err.message}`;
  return `token refused: ${(err as Error).message}`;
}

/**
 * Verifies connection tokens: standard JWTs checked with `jose` (HS256/384/512 with authSecret;
 * RS*, PS*, ES*, EdDSA with authPublicKey or a JWKS file that is reread when it changes), the
 * claims exp (required), nbf, and aud/iss when configured. Optionally the pre-JWT HMAC format,
 * during a migration (authLegacyTokens). Keys are imported once; jose caches their CryptoKeys.
 */
export class TokenVerifier {
  private readonly secret: KeyObject | undefined;
  private readonly publicKey: KeyObject | undefined;
  private jwks: JWTVerifyGetKey | undefined;
  private readonly options: JWTVerifyOptions;
  private readonly legacySecret: string | undefined;
  private watching: string | undefined;

  /** Undefined when no key is configured: tokens are not checked. Bad files throw FG_ERR_INVALID_CONFIG. */
  static fromSettings(s: AuthSettings, log?: Logger): TokenVerifier | undefined {
    if (s.authSecret === '' && s.authPublicKey === '' && s.authJwks === '') {
      if (s.authLegacyTokens) throw configError('authLegacyTokens', 'legacy tokens are HMAC-signed with authSecret; set --auth-secret too');
      return undefined;
    }
    if (s.authLegacyTokens && s.authSecret === '') throw configError('authLegacyTokens', 'legacy tokens are HMAC-signed with authSecret; set --auth-secret too');
    return new TokenVerifier(s, log);
  }

  private constructor(s: AuthSettings, private readonly log?: Logger) {
    if (s.authSecret !== '') this.secret = createSecretKey(Buffer.from(s.authSecret, 'utf8'));
    if (s.authPublicKey !== '') this.publicKey = readPublicKey(s.authPublicKey);
    if (s.authJwks !== '') {
      this.jwks = readJwks(s.authJwks);
      this.watchJwks(s.authJwks);
    }
    const algorithms = [...(this.secret ? HMAC_ALGS : []), ...(this.publicKey || this.jwks ? KEY_ALGS : [])];
    this.options = { algorithms, requiredClaims: ['exp'] };
    if (s.authAudience !== '') this.options.audience = s.authAudience;
    if (s.authIssuer !== '') this.options.issuer = s.authIssuer;
    if (s.authLegacyTokens) this.legacySecret = s.authSecret;
  }

  /** What the startup block prints. */
  describe(): string {
    const parts: string[] = [];
    if (this.secret) parts.push('JWT HS256/384/512 (authSecret)');
    if (this.publicKey) parts.push(`JWT ${this.publicKey.asymmetricKeyType} public key (authPublicKey)`);
    if (this.watching) parts.push(`JWT keys from ${this.watching} (reread on change)`);
    if (this.options.audience) parts.push(`aud ${String(this.options.audience)}`);
    if (this.options.issuer) parts.push(`iss ${String(this.options.issuer)}`);
    if (this.legacySecret !== undefined) parts.push('legacy HMAC tokens accepted');
    return parts.join(', ');
  }

  private readonly getKey: JWTVerifyGetKey = (header, token) => {
    if (header.alg.startsWith('HS')) return this.secret!;
    if (this.jwks && (header.kid !== undefined || !this.publicKey)) return this.jwks(header, token);
    return this.publicKey!;
  };

  async verify(token: string | undefined): Promise<TokenCheck> {
    if (token === undefined || token === '') return { ok: false, reason: 'no token' };
    if (this.legacySecret !== undefined && token.split('.').length === 2) return verifyLegacyToken(this.legacySecret, token);
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, this.options));
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    }
    const channels = payload.channels;
    if (channels !== undefined && (!Array.isArray(channels) || !channels.every((c) => typeof c === 'string'))) {
      return { ok: false, reason: 'channels must be a list of strings' };
    }
    if (payload.sub !== undefined && typeof payload.sub !== 'string') return { ok: false, reason: 'sub must be a string' };
    // presence keys subs as UTF-8 in Redis, where every lone surrogate reads as U+FFFD: two users would be one
    if (typeof payload.sub === 'string' && hasLoneSurrogate(payload.sub)) return { ok: false, reason: 'sub holds a lone surrogate (\\ud800–\\udfff without its pair)' };
    return { ok: true, claims: payload as unknown as TokenClaims };
  }

  private watchJwks(path: string): void {
    this.watching = path;
    watchFile(path, { interval: JWKS_POLL_MS, persistent: false }, (cur, prev) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
      try {
        this.jwks = readJwks(path);
        this.log?.info({ path }, 'JWKS reloaded');
      } catch (err) {
        // keep the keys we have: a half-written file must not lock every client out
        this.log?.warn({ path, err: (err as Error).message }, 'JWKS file changed but cannot be used; keeping the previous keys');
      }
    });
  }

  close(): void {
    if (this.watching) unwatchFile(this.watching);
  }
}
