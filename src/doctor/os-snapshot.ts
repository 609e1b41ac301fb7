import { platform as osPlatform, totalmem } from 'node:os';
import { readFdLimits, readMemoryLimit, type MemoryLimit } from '../system/limits.js';
import { LINUX_TIME_WAIT_SECONDS, readLinuxSysctls, type LinuxSysctls } from '../system/sysctl-set.js';
import { inOtherNetns } from '../system/listeners.js';
import { inOwnNetns } from '../system/netns-counters.js';
import { macTimeWaitSeconds, readMacSysctls, type MacSysctls } from '../system/macos-sysctl.js';

/**
 * Everything the doctor reasons about, normalised across Linux and macOS. Values are undefined
 * when the OS does not expose them; the checks then say "unknown" instead of guessing.
 */
export interface OsSnapshot {
  platform: 'linux' | 'darwin' | string;
  somaxconn?: number;
  portRange?: [number, number];
  /** How long a closed connection holds its port on the side that closed first. */
  timeWaitSeconds: number;
  /** Machine-wide open files (Linux fs.file-max, macOS kern.maxfiles). */
  fileMax?: number;
  /** Ceiling for any process's RLIMIT_NOFILE (Linux fs.nr_open, macOS kern.maxfilesperproc). */
  nrOpen?: number;
  fdLimits: { pid: number | 'self'; soft?: number; hard?: number };
  memory: MemoryLimit;
  linux?: LinuxSysctls;
  mac?: MacSysctls;
  /** The per-namespace settings were read in this pid's network namespace (it lives in another one than the doctor). */
  netnsOf?: number;
  /** The doctor itself runs outside the host's network namespace: host-wide settings may not be visible. */
  readerInOwnNetns?: boolean;
}

export function snapshotFromLinux(linux: LinuxSysctls, fd: OsSnapshot['fdLimits'], memory: MemoryLimit): OsSnapshot {
  return {
    platform: 'linux',
    somaxconn: linux.somaxconn,
    portRange: linux.ipLocalPortRange,
    timeWaitSeconds: LINUX_TIME_WAIT_SECONDS,
    fileMax: linux.fileMax,
    nrOpen: linux.nrOpen,
    fdLimits: fd,
    memory,
    linux,
  };
}

export function snapshotFromMac(mac: MacSysctls, fd: OsSnapshot['fdLimits'], memory: MemoryLimit): OsSnapshot {
  const range: [number, number] | undefined =
    mac.portRangeFirst !== undefined && mac.portRangeLast !== undefined ? [mac.portRangeFirst, mac.portRangeLast] : undefined;
  return {
    platform: 'darwin',
    somaxconn: mac.somaxconn,
    portRange: range,
    timeWaitSeconds: macTimeWaitSeconds(mac),
    fileMax: mac.maxFiles,
    nrOpen: mac.maxFilesPerProc,
    fdLimits: fd,
    memory,
    mac,
  };
}

/** Reads this machine (and the fd limits of `pid`, default this process). */
export function readOsSnapshot(pid: number | 'self' = 'self'): OsSnapshot {
  const p = osPlatform();
  if (p === 'darwin') {
    // no /proc: the soft limit is what this process got; the per-process ceiling is maxfilesperproc
    const mac = readMacSysctls();
    return snapshotFromMac(mac, { pid, soft: undefined, hard: mac.maxFilesPerProc }, { bytes: totalmem(), source: 'physical' });
  }
  const fd = readFdLimits(pid);
  const other = typeof pid === 'number' && inOtherNetns(pid);
  const snap = snapshotFromLinux(readLinuxSysctls(typeof pid === 'number' ? pid : undefined), { pid, soft: fd.soft, hard: fd.hard }, readMemoryLimit());
  return { ...snap, netnsOf: other ? (pid as number) : undefined, readerInOwnNetns: inOwnNetns() };
}
