import { formatCount } from './format.js';

/**
 * Fixes in the terms of the server under test. A Floodgate gateway (it sent a `welcome` frame) is
 * told its own settings; any other server gets the generic knob and how common servers spell it,
 * because `FLOODGATE_BACKLOG=…` means nothing to an nginx or a plain `ws` server.
 */

/** "listen with backlog ≥ N …, raise somaxconn when N is above it, then restart". */
export function backlogFix(n: number, o: { floodgate: boolean; somaxconn?: number }): string {
  const listen = o.floodgate
    ? `listen with backlog ≥ ${n} (FLOODGATE_BACKLOG=${n}, or floodgate serve --backlog ${n}; the default \`max\` takes somaxconn)`
    : `have the server listen with backlog ≥ ${n} (Node: server.listen({ port, backlog: ${n} }); nginx: listen … backlog=${n}; elsewhere the backlog argument of listen())`;
  const cap = o.somaxconn !== undefined && n > o.somaxconn
    ? ` and raise net.core.somaxconn from ${formatCount(o.somaxconn)} to ≥ ${n} (floodgate tune --backlog ${n}), which caps every backlog`
    : '';
  return `${listen}${cap}, then restart the server (the backlog is fixed at listen())`;
}

/** Raise the server's fd limit to what this run needed: its connections plus the fds it uses for itself. */
export function fdLimitFix(o: { attempts: number; held: number; fdsAtStart?: number; fdLimit?: number; floodgate: boolean }): string {
  // fds the server holds besides connections: measured at the start, or what the limit left unused by the held connections
  const own = o.fdsAtStart ?? (o.fdLimit !== undefined ? Math.max(0, o.fdLimit - o.held) : undefined);
  const how = o.floodgate
    ? 'LimitNOFILE= in the systemd unit, ulimit -n before floodgate serve, docker --ulimit nofile=; or spread over floodgate serve --workers'
    : 'LimitNOFILE= in the systemd unit, ulimit -n in its start script, docker --ulimit nofile=';
  if (own === undefined) {
    return `raise the server's fd limit (${how}): it held ${formatCount(o.held)} connections when it ran out, and this run wanted ${formatCount(o.attempts)}, so the limit must grow by at least ${formatCount(o.attempts - o.held)}; also fs.file-max / fs.nr_open if they are lower; if fds grow without connections, look for a leak.`;
  }
  const need = o.attempts + own;
  return `raise the server's hard fd limit to ≥ ${need} (${formatCount(o.attempts)} connections + ${formatCount(own)} fds it uses for itself${o.fdLimit !== undefined ? `; now ${formatCount(o.fdLimit)}` : ''}) with ${how}; also fs.file-max / fs.nr_open if they are lower; if fds grow without connections, look for a leak.`;
}

/** How to label kernel counter deltas: whose traffic they count. */
export function counterScope(scope: 'host' | 'netns' | undefined): string {
  return scope === 'netns' ? 'this network namespace only' : 'host-wide';
}
