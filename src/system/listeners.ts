import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { readTcpSockets } from './socket-states.js';

/**
 * A listening TCP socket as `ss -ltn` shows it. For LISTEN sockets ss prints the current
 * accept-queue length as Recv-Q and the effective backlog (min(requested, somaxconn)) as Send-Q;
 * /proc/net/tcp has the queue length but not the backlog, which is why ss (netlink) is used.
 */
export interface Listener {
  address: string;
  port: number;
  /** Connections waiting for accept() now. */
  acceptQueue: number;
  /** Effective backlog, fixed at listen(). */
  backlog: number;
}

/** Parses `ss -ltn` (with or without the header line). */
export function parseSsListeners(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[0] !== 'LISTEN') continue;
    const local = f[3];
    const colon = local.lastIndexOf(':');
    const port = Number(local.slice(colon + 1));
    const recvQ = Number(f[1]);
    const sendQ = Number(f[2]);
    if (!Number.isInteger(port) || !Number.isFinite(recvQ) || !Number.isFinite(sendQ)) continue;
    out.push({ address: local.slice(0, colon).replace(/^\[|\]$/g, ''), port, acceptQueue: recvQ, backlog: sendQ });
  }
  return out;
}

/** True when `pid` lives in another network namespace than this process (a container, `ip netns exec`). */
export function inOtherNetns(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`) !== readlinkSync('/proc/self/ns/net');
  } catch {
    return false;
  }
}

/**
 * Runs `ss -ltn`; undefined when ss is missing (then only /proc/net/tcp queue lengths are known).
 * With `pid` in another network namespace, runs it there through `nsenter -n` (needs root).
 */
export function readListeners(pid?: number): Listener[] | undefined {
  const [cmd, args] = pid !== undefined && inOtherNetns(pid) ? ['nsenter', ['-t', String(pid), '-n', 'ss', '-ltn']] : ['ss', ['-ltn']];
  try {
    return parseSsListeners(execFileSync(cmd, args as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }));
  } catch {
    return undefined;
  }
}

/** Socket inodes a process holds (entries of /proc/<pid>/fd that link to `socket:[inode]`). */
export function socketInodesOf(pid: number): Set<number> {
  const out = new Set<number>();
  let entries: string[];
  try {
    entries = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of entries) {
    try {
      const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) out.add(Number(m[1]));
    } catch {
      // the fd closed while we looked
    }
  }
  return out;
}

/** Ports a process listens on, found by matching its socket inodes with LISTEN rows of its own netns. */
export function listeningPortsOf(pid: number): number[] {
  const inodes = socketInodesOf(pid);
  const ports = readTcpSockets(`/proc/${pid}/net`)
    .filter((s) => s.state === 'LISTEN' && inodes.has(s.inode))
    .map((s) => s.localPort);
  return [...new Set(ports)].sort((a, b) => a - b);
}

/**
 * Pids holding a LISTEN socket on `port` in this network namespace: the socket inodes from
 * /proc/net/tcp{,6} matched against every process's fds. Costs one readlink per open fd on the
 * machine, so it is for one-shot checks (`doctor --port`), not for a watch loop.
 */
export function pidsListeningOn(port: number): number[] {
  const inodes = new Set(readTcpSockets().filter((s) => s.state === 'LISTEN' && s.localPort === port).map((s) => s.inode));
  if (inodes.size === 0) return [];
  const out: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const p of pids) {
    const held = socketInodesOf(Number(p));
    for (const inode of inodes) {
      if (held.has(inode)) {
        out.push(Number(p));
        break;
      }
    }
  }
  return out;
}
