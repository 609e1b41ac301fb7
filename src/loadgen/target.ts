import { FloodgateError } from '../errors.js';

export interface Target {
  url: string;
  kind: 'ws' | 'wss' | 'tcp';
  host: string;
  port: number;
  path: string;
  hostHeader: string;
}

/** Parses `ws://`, `wss://` or `tcp://host:port`. */
export function parseTarget(url: string): Target {
  if (url === undefined || url === null || url === '') {
    throw new FloodgateError('FG_ERR_BENCH_TARGET', 'Expected `url` to be ws://host[:port]/path, wss://… or tcp://host:port, got nothing');
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FloodgateError('FG_ERR_BENCH_TARGET', `Expected \`url\` to be ws://host[:port]/path, wss://… or tcp://host:port, got \`${url}\``);
  }
  const kind = u.protocol.replace(/:$/, '');
  if (kind !== 'ws' && kind !== 'wss' && kind !== 'tcp') {
    throw new FloodgateError('FG_ERR_BENCH_TARGET', `Expected \`url\` scheme ws, wss or tcp, got \`${u.protocol}\` in \`${url}\``);
  }
  const port = u.port ? Number(u.port) : kind === 'wss' ? 443 : kind === 'ws' ? 80 : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new FloodgateError('FG_ERR_BENCH_TARGET', `Expected a port from 1 to 65535 in \`url\`, got \`${url}\``);
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { url, kind, host, port, path: `${u.pathname || '/'}${u.search}`, hostHeader: u.host };
}

/** `127.0.0.2-127.0.0.50`, `10.0.0.1,10.0.0.2` or an array → the list of IPv4 source addresses. */
export function parseSourceIps(spec: string | string[] | undefined): string[] {
  if (spec === undefined || spec === '') return [];
  const parts = Array.isArray(spec) ? spec : spec.split(',').map((s) => s.trim()).filter(Boolean);
  const out: string[] = [];
  for (const p of parts) {
    const range = /^(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)$/.exec(p);
    if (range) {
      const a = ipToInt(range[1], p);
      const b = ipToInt(range[2], p);
      if (b < a || b - a > 65535) throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`sourceIps\` range from low to high with at most 65,536 addresses, got \`${p}\``);
      for (let i = a; i <= b; i++) out.push(intToIp(i));
    } else {
      ipToInt(p, p);
      out.push(p);
    }
  }
  return out;
}

function ipToInt(ip: string, spec: string): number {
  const o = ip.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) {
    throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`sourceIps\` as IPv4 addresses or ranges (127.0.0.2-127.0.0.50), got \`${spec}\``);
  }
  return ((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3];
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
