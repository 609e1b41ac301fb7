import { parseNetstat, type KernelCounters } from './kernel-counters.js';
import { readlinkSync } from 'node:fs';
import { readProcFile } from './proc-files.js';

/**
 * Kernel counters of the network namespace `pid` lives in (/proc/<pid>/net/{snmp,netstat}), so
 * `watch --pid` of a containerised server shows its namespace's drops, not the host's.
 */
export function readKernelCountersOf(pid: number | 'self'): KernelCounters {
  return {
    ...parseNetstat(readProcFile(`/proc/${pid}/net/snmp`) ?? ''),
    ...parseNetstat(readProcFile(`/proc/${pid}/net/netstat`) ?? ''),
  };
}

/**
 * True when this process runs in a network namespace other than the host's (pid 1's): its kernel
 * counters then count only the traffic of that namespace. Unknown (pid 1 not readable) counts as
 * the host's, the cautious answer.
 */
export function inOwnNetns(pid: number | 'self' = 'self'): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`) !== readlinkSync('/proc/1/ns/net');
  } catch {
    return false;
  }
}
