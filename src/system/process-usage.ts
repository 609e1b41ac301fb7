import { readdirSync } from 'node:fs';
import { readProcFile } from './proc-files.js';

/** Open file descriptors of a process (Linux: entries of /proc/<pid>/fd). */
export function countOpenFds(pid: number | 'self' = 'self'): number | undefined {
  try {
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
