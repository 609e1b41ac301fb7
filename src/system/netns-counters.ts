import { parseNetstat, type KernelCounters } from './kernel-counters.js';
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
