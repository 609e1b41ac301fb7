import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FloodgateError } from '../errors.js';
import type { Targets } from './check-limits.js';

/** One kernel setting to change, with the value it had when the plan was made. */
export interface SysctlChange {
  name: string;
  from?: string;
  to: string;
  why: string;
}

export interface TunePaths {
  /** Persistent file read at boot (Linux). */
  conf: string;
  /** Where the values before the first apply are recorded, in sysctl.conf format (`sysctl -p` can load it). */
  state: string;
}

export const DEFAULT_TUNE_PATHS: TunePaths = {
  conf: '/etc/sysctl.d/99-floodgate.conf',
  state: '/var/lib/floodgate/sysctl-before.conf',
};

/** Reads a setting's current value as text, e.g. "32768 60999"; undefined when it does not exist. */
export type ReadSetting = (name: string) => string | undefined;

const num = (s: string | undefined): number | undefined => {
  const n = s === undefined ? Number.NaN : Number(s.trim().split(/\s+/)[0]);
  return Number.isFinite(n) ? n : undefined;
};

/** Linux TIME_WAIT, seconds (fixed). */
const TIME_WAIT = 60;

/**
 * Decides which settings to raise for the targets. Only raises, never lowers, and only what the
 * target needs; with no target it sets the listen-queue values Floodgate's defaults assume.
 */
export function planLinuxTune(read: ReadSetting, targets: Targets): SysctlChange[] {
  const changes: SysctlChange[] = [];
  const raise = (name: string, wanted: number, why: string): void => {
    const cur = read(name);
    const n = num(cur);
    if (cur !== undefined && n !== undefined && n < wanted) changes.push({ name, from: cur.trim().replace(/\s+/g, ' '), to: String(wanted), why });
  };
  const backlog = targets.backlog ?? 4096;
  raise('net.core.somaxconn', backlog, `caps every listen backlog; the server asks for ${backlog}`);
  raise('net.ipv4.tcp_max_syn_backlog', backlog, 'half-open connections kept per listener when SYN cookies are off');
  // A burst's SYNs wait in a CPU's input queue before any listener sees them (loopback and veth too):
  // a 4,096-deep listen queue behind a 1,000-packet input queue still loses SYNs (softnet_stat dropped).
  raise('net.core.netdev_max_backlog', backlog, 'packets each CPU queues before TCP sees them; a connect burst lands here first (host-wide)');
  const cookies = read('net.ipv4.tcp_syncookies');
  if (num(cookies) === 0) changes.push({ name: 'net.ipv4.tcp_syncookies', from: cookies!.trim(), to: '1', why: 'answer SYN bursts with cookies instead of dropping them' });
  if (targets.ratePerSecond !== undefined) {
    const rangeRaw = read('net.ipv4.ip_local_port_range');
    const range = rangeRaw?.trim().split(/\s+/).map(Number);
    if (range && range.length === 2) {
      const usable = range[1] - range[0] + 1;
      if (targets.ratePerSecond * TIME_WAIT > usable) {
        changes.push({
          name: 'net.ipv4.ip_local_port_range', from: `${range[0]} ${range[1]}`, to: '1024 65535',
          why: `${targets.ratePerSecond}/s × 60 s TIME_WAIT needs ${targets.ratePerSecond * TIME_WAIT} ports per destination; ${usable} are usable`,
        });
        const reuse = read('net.ipv4.tcp_tw_reuse');
        if (reuse !== undefined && num(reuse) !== 1) {
          changes.push({ name: 'net.ipv4.tcp_tw_reuse', from: reuse.trim(), to: '1', why: 'let outbound connects reuse TIME_WAIT ports (client side only)' });
        }
      }
    }
  }
  if (targets.connections !== undefined) {
    raise('fs.file-max', targets.connections * 2, 'open files of the whole machine (each connection is one)');
    raise('fs.nr_open', targets.connections + 1024, 'ceiling for any process\'s RLIMIT_NOFILE');
    if (read('net.netfilter.nf_conntrack_max') !== undefined) {
      raise('net.netfilter.nf_conntrack_max', targets.connections * 2, 'tracked flows; past it new connections are dropped');
    }
  }
  return changes;
}

/** macOS: the same intent with its names. */
export function planMacTune(read: ReadSetting, targets: Targets): SysctlChange[] {
  const changes: SysctlChange[] = [];
  const raise = (name: string, wanted: number, why: string): void => {
    const cur = read(name);
    const n = num(cur);
    if (n !== undefined && n < wanted) changes.push({ name, from: cur!.trim(), to: String(wanted), why });
  };
  raise('kern.ipc.somaxconn', targets.backlog ?? 4096, 'caps every listen backlog (macOS default 128)');
  if (targets.ratePerSecond !== undefined) {
    const first = num(read('net.inet.ip.portrange.first'));
    const last = num(read('net.inet.ip.portrange.last'));
    const msl = num(read('net.inet.tcp.msl')) ?? 15000;
    if (first !== undefined && last !== undefined && (targets.ratePerSecond * 2 * msl) / 1000 > last - first + 1) {
      changes.push({ name: 'net.inet.ip.portrange.first', from: String(first), to: '10000', why: 'more ephemeral ports per destination' });
    }
  }
  if (targets.connections !== undefined) {
    raise('kern.maxfiles', targets.connections * 2, 'open files of the whole machine');
    raise('kern.maxfilesperproc', targets.connections + 1024, 'open files per process');
  }
  return changes;
}

const q = (v: string): string => (/^[\w.\-=/]+$/.test(v) ? v : `"${v}"`);

/** The revert command for these paths: custom --sysctl-conf/--state-file must be given again, or revert finds nothing. */
export function undoCommand(paths: TunePaths): string {
  const sh = (p: string): string => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);
  return [
    'floodgate tune --revert',
    ...(paths.conf !== DEFAULT_TUNE_PATHS.conf ? ['--sysctl-conf', sh(paths.conf)] : []),
    ...(paths.state !== DEFAULT_TUNE_PATHS.state ? ['--state-file', sh(paths.state)] : []),
  ].join(' ');
}

/** A POSIX sh script: record the current values once, set the new ones now and at boot. */
export function renderTuneScript(changes: readonly SysctlChange[], platform: 'linux' | 'darwin', paths: TunePaths = DEFAULT_TUNE_PATHS): string {
  const lines = [
    '#!/bin/sh',
    '# floodgate tune: raise the kernel limits that decide connection capacity.',
    platform === 'linux'
      ? `# Records the current values first; undo with \`${undoCommand(paths)}\` (or \`sysctl -p "$STATE"\`, then delete "$CONF").`
      : `# Records the current values first; undo with \`${undoCommand(paths)}\`.`,
    'set -e',
  ];
  if (changes.length === 0) {
    lines.push('# Nothing to change: every setting already meets the target.');
    return `${lines.join('\n')}\n`;
  }
  for (const c of changes) lines.push(`# ${c.name}: ${c.from ?? '?'} -> ${c.to} (${c.why})`);
  lines.push(`STATE=${q(paths.state)}`);
  if (platform === 'linux') lines.push(`CONF=${q(paths.conf)}`);
  lines.push('mkdir -p "$(dirname "$STATE")"', 'touch "$STATE"');
  for (const c of changes) {
    lines.push(`grep -q '^${c.name} =' "$STATE" || echo "${c.name} = $(sysctl -n ${c.name})" >> "$STATE"`);
  }
  for (const c of changes) lines.push(`sysctl -w ${q(`${c.name}=${c.to}`)}`);
  if (platform === 'linux') {
    lines.push('cat > "$CONF" <<EOF', '# written by floodgate tune; removed by floodgate tune --revert');
    for (const c of changes) lines.push(`${c.name} = ${c.to}`);
    lines.push('EOF');
  } else {
    lines.push('# macOS resets these at reboot: re-run this script from a LaunchDaemon to keep them.');
  }
  lines.push('echo "Applied. A new backlog takes effect only when the server listens again: restart it."');
  lines.push(platform === 'linux'
    ? 'echo "RLIMIT_NOFILE is per process: raise it with LimitNOFILE= (systemd), ulimit -n, or docker --ulimit nofile=."'
    : 'echo "The fd limit is per process: raise it with ulimit -n (and launchctl limit maxfiles for launchd services)."');
  return `${lines.join('\n')}\n`;
}

/** Runs `sysctl -w name=value`; replaceable in tests. */
export type SysctlWriter = (name: string, value: string) => void;

export const sysctlWrite: SysctlWriter = (name, value) => {
  try {
    execFileSync('sysctl', ['-w', `${name}=${value}`], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new FloodgateError('FG_ERR_TUNE', `sysctl -w ${name}=${value} failed: ${stderr || (err as Error).message}`, { name, value });
  }
};

export function parseStateFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*([\w.\-]+)\s*=\s*(.*?)\s*$/);
    if (m && !line.trim().startsWith('#')) out.set(m[1], m[2]);
  }
  return out;
}

function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new FloodgateError('FG_ERR_NOT_ROOT', `\`floodgate tune ${what}\` changes kernel settings and needs root: run it with sudo, or print the script without ${what} and review it.`);
  }
}

/**
 * Does what the script does: keeps the values from before the FIRST apply (a second apply adds
 * only names not yet recorded, so revert always returns to the original), sets, persists.
 */
export function applyTune(changes: readonly SysctlChange[], platform: 'linux' | 'darwin', paths: TunePaths = DEFAULT_TUNE_PATHS, write: SysctlWriter = sysctlWrite): void {
  requireRoot('--apply');
  if (changes.length === 0) return;
  mkdirSync(dirname(paths.state), { recursive: true });
  const recorded = existsSync(paths.state) ? parseStateFile(readFileSync(paths.state, 'utf8')) : new Map<string, string>();
  for (const c of changes) if (!recorded.has(c.name) && c.from !== undefined) recorded.set(c.name, c.from);
  writeFileSync(paths.state, `# values before floodgate tune --apply; floodgate tune --revert restores them\n${[...recorded].map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  for (const c of changes) write(c.name, c.to);
  if (platform === 'linux') {
    mkdirSync(dirname(paths.conf), { recursive: true });
    let persisted = new Map<string, string>();
    if (existsSync(paths.conf)) persisted = parseStateFile(readFileSync(paths.conf, 'utf8'));
    for (const c of changes) persisted.set(c.name, c.to);
    writeFileSync(paths.conf, `# written by floodgate tune; removed by floodgate tune --revert\n${[...persisted].map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  }
}

/** Restores the recorded values and removes the persistent file and the record. Returns what it restored. */
export function revertTune(paths: TunePaths = DEFAULT_TUNE_PATHS, write: SysctlWriter = sysctlWrite): Map<string, string> {
  requireRoot('--revert');
  if (!existsSync(paths.state)) {
    throw new FloodgateError('FG_ERR_TUNE', `Nothing to revert: no record of earlier values at ${paths.state} (floodgate tune --apply writes it).`, { state: paths.state });
  }
  const recorded = parseStateFile(readFileSync(paths.state, 'utf8'));
  for (const [name, value] of recorded) write(name, value);
  rmSync(paths.conf, { force: true });
  rmSync(paths.state, { force: true });
  return recorded;
}
