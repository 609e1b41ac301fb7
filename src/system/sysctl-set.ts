import { execFileSync } from 'node:child_process';
import type { RunEvidence } from '../doctor/run-evidence.js';
import { inOtherNetns } from './listeners.js';
import { readSysctl } from './proc-files.js';

/**
 * The Linux settings that decide connection capacity, read from /proc/sys (of this process's
 * network namespace for the net.* ones). Every field is undefined when the file does not exist
 * (not Linux, module not loaded, or not visible in a non-initial namespace, like tcp_mem).
 */
export interface LinuxSysctls {
  somaxconn?: number;
  tcpMaxSynBacklog?: number;
  ipLocalPortRange?: [number, number];
  tcpTwReuse?: number;
  tcpSyncookies?: number;
  tcpAbortOnOverflow?: number;
  tcpFinTimeout?: number;
  netdevMaxBacklog?: number;
  rmemMax?: number;
  wmemMax?: number;
  /** Pages (low, pressure, high), not bytes. */
  tcpMem?: [number, number, number];
  fileMax?: number;
  nrOpen?: number;
  nfConntrackMax?: number;
  /** TIME_WAIT sockets kept at most; beyond it they are destroyed at once (TCPTimeWaitOverflow). */
  tcpMaxTwBuckets?: number;
  /** Linux 6.x: ms before a TIME_WAIT port may be reused when tcp_tw_reuse allows it. */
  tcpTwReuseDelay?: number;
  /** Linux 6.x: SYN retransmits with linear 1 s timeouts before exponential backoff (default 4). */
  tcpSynLinearTimeouts?: number;
}

/** Field → dotted sysctl name. The order is the order `floodgate doctor` prints them in. */
export const LINUX_SYSCTL_NAMES: Record<keyof LinuxSysctls, string> = {
  somaxconn: 'net.core.somaxconn',
  tcpMaxSynBacklog: 'net.ipv4.tcp_max_syn_backlog',
  ipLocalPortRange: 'net.ipv4.ip_local_port_range',
  tcpTwReuse: 'net.ipv4.tcp_tw_reuse',
  tcpSyncookies: 'net.ipv4.tcp_syncookies',
  tcpAbortOnOverflow: 'net.ipv4.tcp_abort_on_overflow',
  tcpFinTimeout: 'net.ipv4.tcp_fin_timeout',
  netdevMaxBacklog: 'net.core.netdev_max_backlog',
  rmemMax: 'net.core.rmem_max',
  wmemMax: 'net.core.wmem_max',
  tcpMem: 'net.ipv4.tcp_mem',
  fileMax: 'fs.file-max',
  nrOpen: 'fs.nr_open',
  nfConntrackMax: 'net.netfilter.nf_conntrack_max',
  tcpMaxTwBuckets: 'net.ipv4.tcp_max_tw_buckets',
  tcpTwReuseDelay: 'net.ipv4.tcp_tw_reuse_delay',
  tcpSynLinearTimeouts: 'net.ipv4.tcp_syn_linear_timeouts',
};

/** Linux's TIME_WAIT length: TCP_TIMEWAIT_LEN, a compile-time 60 s (tcp_fin_timeout does not change it). */
export const LINUX_TIME_WAIT_SECONDS = 60;

function ints(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.trim().split(/\s+/).map((s) => Number(s));
  return parts.length > 0 && parts.every((n) => Number.isFinite(n)) ? parts : undefined;
}

/** Parses sysctl values given as raw strings by dotted name (from /proc/sys, a fixture or `sysctl -n`). */
export function parseLinuxSysctls(read: (name: string) => string | undefined): LinuxSysctls {
  const out: LinuxSysctls = {};
  for (const [field, name] of Object.entries(LINUX_SYSCTL_NAMES) as [keyof LinuxSysctls, string][]) {
    const v = ints(read(name));
    if (v === undefined) continue;
    if (field === 'ipLocalPortRange') {
      if (v.length === 2) out.ipLocalPortRange = [v[0], v[1]];
    } else if (field === 'tcpMem') {
      if (v.length === 3) out.tcpMem = [v[0], v[1], v[2]];
    } else {
      (out as Record<string, number>)[field] = v[0];
    }
  }
  return out;
}

/**
 * Settings that are one value for the whole host, whatever network namespace reads them (measured on
 * kernel 6.18: tcp_mem, rmem_max/wmem_max and netdev_max_backlog are not even visible outside the
 * host's namespace; fs.* are the same everywhere; nf_conntrack_max is set on the host).
 */
export const HOST_WIDE_SYSCTLS: ReadonlySet<keyof LinuxSysctls> = new Set<keyof LinuxSysctls>([
  'tcpMem', 'fileMax', 'nrOpen', 'netdevMaxBacklog', 'rmemMax', 'wmemMax', 'nfConntrackMax',
]);

/**
 * The settings as seen by `pid`'s network namespace: the net.* files under /proc/sys show the
 * namespace of the process that reads them, so for a process in another namespace (a container,
 * `ip netns exec`) they are read through `nsenter -t PID -n` (root). Host-wide ones are read here.
 * Without a pid, or for one in this namespace, the same as readLinuxSysctls().
 */
export function readLinuxSysctls(pid?: number): LinuxSysctls {
  if (pid === undefined || !inOtherNetns(pid)) return parseLinuxSysctls(readSysctl);
  const names = Object.entries(LINUX_SYSCTL_NAMES).filter(([f]) => !HOST_WIDE_SYSCTLS.has(f as keyof LinuxSysctls)).map(([, n]) => n);
  const theirs = readSysctlsInNetnsOf(pid, names);
  return parseLinuxSysctls((name) => (names.includes(name) ? theirs.get(name) : readSysctl(name)));
}

/** One `nsenter` for all names: "name<TAB>value" lines, empty value when the file is absent there. */
function readSysctlsInNetnsOf(pid: number, names: string[]): Map<string, string> {
  const script = 'for n in "$@"; do f=/proc/sys/$(echo "$n" | tr . /); if [ -r "$f" ]; then printf "%s\\t%s\\n" "$n" "$(cat "$f")"; fi; done';
  const out = new Map<string, string>();
  let text: string;
  try {
    text = execFileSync('nsenter', ['-t', String(pid), '-n', 'sh', '-c', script, 'sh', ...names], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) out.set(line.slice(0, tab), line.slice(tab + 1).trim());
  }
  return out;
}

/** The subset a bench run stores in RunEvidence.settings. */
export function readRunSettings(): NonNullable<RunEvidence['settings']> {
  const s = readLinuxSysctls();
  return {
    somaxconn: s.somaxconn,
    tcpMaxSynBacklog: s.tcpMaxSynBacklog,
    tcpSyncookies: s.tcpSyncookies,
    tcpTwReuse: s.tcpTwReuse,
    tcpTwReuseDelay: s.tcpTwReuseDelay,
    tcpAbortOnOverflow: s.tcpAbortOnOverflow,
    ipLocalPortRange: s.ipLocalPortRange,
    netdevMaxBacklog: s.netdevMaxBacklog,
  };
}
