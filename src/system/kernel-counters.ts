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

/**
 * Parses /proc/net/softnet_stat: one line per CPU of hex columns; the second is `dropped`, the
 * packets thrown away because that CPU's input queue (net.core.netdev_max_backlog) was full, the
 * third `time_squeeze`. Loopback and veth traffic goes through these queues too, so a burst of
 * connects on one machine can lose SYNs here although no TCP queue overflowed. The file is one for
 * the whole host: a network namespace shows the same CPUs' totals.
 */
export function parseSoftnetStat(text: string): KernelCounters {
  let dropped = 0;
  let squeezed = 0;
  let cpus = 0;
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 3 || !cols.every((c) => /^[0-9a-f]+$/i.test(c))) continue;
    dropped += Number.parseInt(cols[1], 16);
    squeezed += Number.parseInt(cols[2], 16);
    cpus++;
  }
  return cpus === 0 ? {} : { 'Softnet.Dropped': dropped, 'Softnet.TimeSqueeze': squeezed };
}

export function readKernelCounters(): KernelCounters {
  return {
    ...parseNetstat(readProcFile('/proc/net/snmp') ?? ''),
    ...parseNetstat(readProcFile('/proc/net/netstat') ?? ''),
    ...parseSoftnetStat(readProcFile('/proc/net/softnet_stat') ?? ''),
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
  'Softnet.Dropped',
] as const;
