import { totalmem } from 'node:os';
import { readProcFile, readSysctlInt } from './proc-files.js';

/** cgroup v1 writes this (LONG_MAX rounded down to the page size) when no memory limit is set. */
export const CGROUP_V1_UNLIMITED = 9223372036854771712n;

export interface FdLimits {
  soft: number | undefined;
  hard: number | undefined;
}

/** Parses the "Max open files" row of /proc/<pid>/limits. */
export function parseFdLimits(limitsText: string): FdLimits {
  const row = limitsText.split('\n').find((line) => line.startsWith('Max open files'));
  if (!row) return { soft: undefined, hard: undefined };
  const parts = row.slice('Max open files'.length).trim().split(/\s+/);
  const toNumber = (s: string | undefined): number | undefined => {
    if (s === undefined || s === 'unlimited') return undefined;
    const n = Number.parseInt(s, 10);
    return Number.isFinite(n) ? n : undefined;
  };
  return { soft: toNumber(parts[0]), hard: toNumber(parts[1]) };
}

export function readFdLimits(pid: number | 'self' = 'self'): FdLimits {
  const text = readProcFile(`/proc/${pid}/limits`);
  return text === undefined ? { soft: undefined, hard: undefined } : parseFdLimits(text);
}

export type MemoryLimitSource = 'cgroup-v2' | 'cgroup-v1' | 'physical';

export interface MemoryLimit {
  bytes: number;
  source: MemoryLimitSource;
}

/**
 * The memory this process may use: the cgroup limit when one is set, else physical memory.
 * `root` lets tests point at recorded cgroup trees.
 */
export function readMemoryLimit(root = '/sys/fs/cgroup', physical = totalmem()): MemoryLimit {
  const v2 = readProcFile(`${root}/memory.max`)?.trim();
  if (v2 !== undefined && v2 !== 'max') {
    const n = Number(v2);
    if (Number.isFinite(n) && n > 0) return { bytes: Math.min(n, physical), source: 'cgroup-v2' };
  }
  const v1 = readProcFile(`${root}/memory/memory.limit_in_bytes`)?.trim();
  if (v1 !== undefined && /^\d+$/.test(v1)) {
    const big = BigInt(v1);
    if (big < CGROUP_V1_UNLIMITED && big > 0n) {
      return { bytes: Math.min(Number(big), physical), source: 'cgroup-v1' };
    }
  }
  return { bytes: physical, source: 'physical' };
}

/** net.core.somaxconn: the kernel's cap on any listen backlog. Linux 5.4+ defaults to 4096. */
export function readSomaxconn(): number | undefined {
  return readSysctlInt('net.core.somaxconn');
}

/** Node's listen() default when no backlog is given. */
export const NODE_DEFAULT_BACKLOG = 511;
