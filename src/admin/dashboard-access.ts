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
  if (auth !== undefined && /^bearer /i.test(auth)) return auth.slice(7).trim(); // the scheme is case-insensitive
  return undefined;
}

/** Compares digests, so neither the length nor the prefix of the token leaks through timing. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

export interface DashboardStatus {
  enabled: boolean;
  /** Where to open it, e.g. `http://127.0.0.1:8080/dashboard` (the token is never printed). */
  url: string | null;
  /** Why it is on or off, and how to turn it on, in one sentence. */
  note: string;
}

/**
 * What the startup block, `GET /` and the 404 say about the dashboard: its URL, or the real
 * reason it is off (`--dashboard off`, or a non-loopback host without a token) and how to turn it on.
 */
export function describeDashboard(s: { dashboard: DashboardMode; host: string; dashboardToken: string }, port: number): DashboardStatus {
  const enabled = dashboardEnabled(s.dashboard, s.host, s.dashboardToken);
  const wildcard = s.host === '::' || s.host === '0.0.0.0' || s.host === '';
  const shown = wildcard ? 'localhost' : s.host.includes(':') && !s.host.startsWith('[') ? `[${s.host}]` : s.host;
  const url = `http://${shown}:${port}/dashboard`;
  if (enabled) {
    const token = s.dashboardToken !== '' ? ' (add ?token=<dashboardToken>)' : '';
    const why = s.dashboard === 'on' ? '--dashboard on' : s.dashboardToken !== '' ? 'a dashboardToken is set' : `${s.host} is a loopback address`;
    return { enabled, url: `${url}${token}`, note: `on (${why})${wildcard ? '; from another machine use this host\'s name or address' : ''}` };
  }
  if (s.dashboard === 'off') {
    return { enabled, url: null, note: 'off: the dashboard setting is `off` (--dashboard off or FLOODGATE_DASHBOARD=off); set it to `auto` or `on` to serve /dashboard' };
  }
  return {
    enabled,
    url: null,
    note: `off: the gateway listens on ${s.host}${wildcard ? ' (every interface)' : ''} and no dashboardToken is set, so /dashboard would be open to the network; turn it on with --dashboard-token <secret>, or --host 127.0.0.1 (this machine only), or --dashboard on`,
  };
}
