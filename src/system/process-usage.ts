import { readdirSync, statSync } from 'node:fs';
import { readProcFile } from './proc-files.js';

/**
 * Open file descriptors of a process. Linux 6.2+ reports the count as the size of /proc/<pid>/fd,
 * one stat instead of listing every entry (a gateway holding 15,000 sockets reads this every
 * second for /stats and the dashboard); older kernels report 0 there, then the entries are counted.
 */
export function countOpenFds(pid: number | 'self' = 'self'): number | undefined {
  try {
    const size = statSync(`/proc/${pid}/fd`).size;
    if (size > 0) return size;
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes from /proc/<pid>/status (VmRSS). */
export function readRss(pid: number | 'self' = 'self'): number | undefined {
  const status = readProcFile(`/proc/${pid}/status`);
  const m = status?.match(/^VmRSS:\s+(\d+)\s+kB/m);
  return m ? Number(m[1]) * 1024 : undefined;
}

export interface ProcessCpu {
  /** User + system CPU time so far, seconds. */
  seconds: number;
  /** R running, S sleeping, D disk wait, Z zombie, T stopped… (/proc/<pid>/stat field 3). */
  state: string;
}

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every Linux architecture Node runs on). */
const CLOCK_TICKS = 100;

/** CPU time and state of a process from /proc/<pid>/stat; undefined when it does not exist. */
export function readProcessCpu(pid: number | 'self'): ProcessCpu | undefined {
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // the command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { seconds: (utime + stime) / CLOCK_TICKS, state: rest[0] };
}
