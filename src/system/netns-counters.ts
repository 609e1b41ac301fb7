import { parseNetstat, parseSoftnetStat, type KernelCounters } from './kernel-counters.js';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { readProcFile } from './proc-files.js';

/**
 * Kernel counters of the network namespace `pid` lives in (/proc/<pid>/net/{snmp,netstat}), so
 * `watch --pid` of a containerised server shows its namespace's drops, not the host's. The per-CPU
 * input-queue drops (softnet_stat) are the host's in every namespace.
 */
export function readKernelCountersOf(pid: number | 'self'): KernelCounters {
  return {
    ...parseNetstat(readProcFile(`/proc/${pid}/net/snmp`) ?? ''),
    ...parseNetstat(readProcFile(`/proc/${pid}/net/netstat`) ?? ''),
    ...parseSoftnetStat(readProcFile(`/proc/${pid}/net/softnet_stat`) ?? ''),
  };
}

/**
 * True when this process runs in a network namespace other than the host's: its kernel counters
 * then count only the traffic of that namespace. Compared with pid 1's namespace when it can be read;
 * in a container that cannot read pid 1, a namespace made by `ip netns add` is recognised by its
 * bind mount under /run/netns. Unknown counts as the host's, the cautious answer.
 */
export function inOwnNetns(pid: number | 'self' = 'self'): boolean {
  let own: string;
  try {
    own = readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return false;
  }
  try {
    return own !== readlinkSync('/proc/1/ns/net');
  } catch {
    // pid 1 not readable here
  }
  const ino = /\[(\d+)\]/.exec(own)?.[1];
  try {
    return readdirSync('/run/netns').some((n) => {
      try {
        return String(statSync(`/run/netns/${n}`).ino) === ino;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
