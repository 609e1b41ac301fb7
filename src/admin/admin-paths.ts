/**
 * Which HTTP paths belong to the operator's side. With an admin listener (`adminPort`) these are
 * served there only; the public port keeps the WebSocket upgrade and `/healthz` (load balancers
 * check the public one).
 */
const ADMIN_EXACT = new Set(['/metrics', '/stats', '/dashboard']);
const ADMIN_PREFIXES = ['/stats/', '/dashboard/', '/api/'];

export function isAdminPath(path: string): boolean {
  return ADMIN_EXACT.has(path) || path === '/api' || ADMIN_PREFIXES.some((p) => path.startsWith(p));
}

export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/');
}
