import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Hosts that only this machine can reach: the dashboard may be open there without a token. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

export type DashboardMode = 'auto' | 'on' | 'off';

/**
 * Whether the dashboard is served at all. `auto`: on for loopback binds or when a token is set;
 * the default host `::` is not loopback, so by default a token is needed to open it.
 */
export function dashboardEnabled(mode: DashboardMode, host: string, token: string): boolean {
  if (mode === 'off') return false;
  if (mode === 'on') return true;
  return token !== '' || isLoopbackHost(host);
}

/** The token a request carries: `?token=`, header `x-floodgate-token`, or `Authorization: Bearer`. */
export function dashboardTokenFrom(req: IncomingMessage): string | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q >= 0) {
    const t = new URLSearchParams(url.slice(q + 1)).get('token');
    if (t !== null) return t;
  }
  const header = req.headers['x-floodgate-token'];
  if (typeof header === 'string') return header;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  return undefined;
}

/** Compares digests, so neither the length nor the prefix of the token leaks through timing. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}
