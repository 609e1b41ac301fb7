import type { IncomingMessage } from 'node:http';
import { dashboardTokenFrom, tokenMatches } from './dashboard-access.js';

/**
 * One access policy for the whole admin surface — /stats, /stats/machine, /metrics and the
 * dashboard — which all hold the same data (docs/dashboard.md, "Access"):
 *  - `token`: the request carries `dashboardToken` (`?token=`, `x-floodgate-token` or
 *    `Authorization: Bearer`, which is what Prometheus sends);
 *  - `loopback`: only peers on this machine (127.0.0.0/8, ::1);
 *  - `off`: no check (only behind something that already restricts access).
 * `auto` (the default) is `token` when a dashboardToken is set, else `loopback`.
 * /healthz stays open: load balancers probe it.
 */
export type AdminAccess = 'auto' | 'token' | 'loopback' | 'off';
export type EffectiveAdminAccess = Exclude<AdminAccess, 'auto'>;

export const ADMIN_PATHS: ReadonlySet<string> = new Set(['/stats', '/stats/machine', '/metrics', '/dashboard', '/dashboard/', '/dashboard/events']);

export function effectiveAdminAccess(setting: AdminAccess, dashboardToken: string): EffectiveAdminAccess {
  if (setting !== 'auto') return setting;
  return dashboardToken !== '' ? 'token' : 'loopback';
}

export function isLoopbackPeer(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Why `req` may not read the admin surface under `mode`, or undefined when it may. */
export function adminDenied(mode: EffectiveAdminAccess, token: string, req: IncomingMessage): string | undefined {
  if (mode === 'off') return undefined;
  if (mode === 'loopback') {
    return isLoopbackPeer(req.socket.remoteAddress)
      ? undefined
      : `the admin surface answers loopback peers only (adminAccess loopback); ${req.socket.remoteAddress ?? 'this peer'} is not one — set dashboardToken or adminAccess (docs/dashboard.md)`;
  }
  return tokenMatches(token, dashboardTokenFrom(req)) ? undefined : 'the admin surface needs the dashboard token: ?token=…, header x-floodgate-token or Authorization: Bearer';
}

export function describeAdminAccess(mode: EffectiveAdminAccess): string {
  switch (mode) {
    case 'token':
      return '/stats, /metrics, /dashboard need the dashboard token';
    case 'loopback':
      return '/stats, /metrics, /dashboard answer loopback peers only';
    case 'off':
      return '/stats, /metrics, /dashboard open to anyone (adminAccess off)';
  }
}
