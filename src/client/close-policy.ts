import { ErrorCodes, FloodgateError, type ErrorCode } from '../errors.js';
import { RECONNECTABLE_CLOSE_CODES } from '../protocol/close-codes.js';
import type { RefusedUpgrade } from './transport.js';

/** Whether a code string from the server is one of our catalogue's. */
export function knownCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, code);
}

/** Close codes after which reconnecting unchanged would fail the same way (docs/protocol.md). */
const FATAL_CLOSE: Partial<Record<number, ErrorCode>> = {
  1000: 'FG_ERR_SERVER_ERROR',
  1002: 'FG_ERR_BAD_FRAME',
  1007: 'FG_ERR_BAD_FRAME',
  1009: 'FG_ERR_BAD_FRAME',
  4001: 'FG_ERR_UNAUTHORIZED',
  4002: 'FG_ERR_BAD_FRAME',
  4003: 'FG_ERR_DISCONNECTED',
};

/**
 * After an established connection closed with `code`: undefined to reconnect and recover, or
 * the error code to stop with. 1005 (no status) counts as reconnectable, as do codes we do not
 * know below 4000; 4001 is retried only when a token function can fetch a fresh token.
 */
export function fatalCloseCode(code: number, tokenRenewable: boolean): ErrorCode | undefined {
  if (RECONNECTABLE_CLOSE_CODES.has(code) || code === 1005) return undefined;
  if (code === 4001 && tokenRenewable) return undefined;
  return FATAL_CLOSE[code] ?? (code >= 4000 ? 'FG_ERR_SERVER_ERROR' : undefined);
}

/** The error for an attempt that ended before the welcome frame. */
export function attemptError(url: string, refused: RefusedUpgrade | undefined, code: number, reason: string, error?: Error): FloodgateError {
  if (refused !== undefined) {
    const fromBody = knownCode(refused.code) ? refused.code : undefined;
    // The gateway's own 503 always carries a JSON body with its code and a Retry-After. A 503
    // with neither (or a 502/504) comes from a proxy or load balancer in front (no healthy
    // upstream, upstream timeout): not the gateway's admission, retried with the normal backoff.
    const byStatus: ErrorCode =
      refused.status === 401 ? 'FG_ERR_UNAUTHORIZED'
        : refused.status === 403 ? 'FG_ERR_FORBIDDEN_ORIGIN'
          : refused.status === 503 && refused.retryAfter !== undefined ? 'FG_ERR_OVER_CAPACITY'
            : refused.status === 502 || refused.status === 503 || refused.status === 504 ? 'FG_ERR_UPSTREAM_UNAVAILABLE'
              : 'FG_ERR_CONNECT_FAILED';
    const details: Record<string, unknown> = { status: refused.status };
    if (refused.retryAfter !== undefined) details.retryAfter = refused.retryAfter;
    return new FloodgateError(fromBody ?? byStatus, `upgrade refused with HTTP ${refused.status}${refused.message ? `: ${refused.message}` : ''}`, details);
  }
  const why = error?.message ?? (reason || `closed with ${code}`);
  return new FloodgateError('FG_ERR_CONNECT_FAILED', `could not connect to ${url}: ${why}`, { closeCode: code });
}

/** Refusals that retrying unchanged cannot fix. */
export function refusalIsFinal(refused: RefusedUpgrade | undefined, tokenRenewable: boolean): boolean {
  const status = refused?.status;
  return status === 403 || (status === 401 && !tokenRenewable);
}
