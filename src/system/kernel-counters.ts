import { readProcFile } from './proc-files.js';

/** Counters are host-wide (per network namespace): always compare deltas over a run. */
export type KernelCounters = Record<string, number>;

/**
 * Parses /proc/net/netstat or /proc/net/snmp: pairs of lines, a header line of names and a
 * line of values, each starting with the same `Prefix:`. Keys come out as `Prefix.Name`
 * (e.g. `TcpExt.ListenOverflows`, `Tcp.EstabResets`).
 */
export function parseNetstat(text: string): KernelCounters {
  const out: KernelCounters = {};
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const head = lines[i].split(/\s+/);
    const vals = lines[i + 1].split(/\s+/);
    const prefix = head[0].replace(/:$/, '');
    if (vals[0].replace(/:$/, '') !== prefix) continue;
    for (let j = 1; j < head.length && j < vals.length; j++) {
      const n = Number(vals[j]);
      if (Number.isFinite(n)) out[`${prefix}.${head[j]}`] = n;
    }
  }
  return out;
}

export function readKernelCounters(): KernelCounters {
  return {
    ...parseNetstat(readProcFile('/proc/net/snmp') ?? ''),
    ...parseNetstat(readProcFile('/proc/net/netstat') ?? ''),
  };
}

export function counterDelta(before: KernelCounters, after: KernelCounters): KernelCounters {
  const out: KernelCounters = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** The counters that explain connection failures (see ../shared/DESIGN.md, diagnosis rules). */
export const CONNECTION_COUNTERS = [
  'TcpExt.ListenOverflows',
  'TcpExt.ListenDrops',
  'TcpExt.TCPReqQFullDrop',
  'TcpExt.TCPReqQFullDoCookies',
  'TcpExt.SyncookiesSent',
  'TcpExt.TCPTimeWaitOverflow',
  'TcpExt.TCPAbortOnMemory',
  'Tcp.EstabResets',
  'Tcp.AttemptFails',
] as const;
