import type { LimitsReport } from './check-limits.js';
import type { ListenerReport } from './check-listener.js';
import { renderFindings } from './finding.js';
import { formatBytes, formatCount } from './format.js';
import { HOST_WIDE_SYSCTLS, LINUX_SYSCTL_NAMES, type LinuxSysctls } from '../system/sysctl-set.js';
import { MAC_SYSCTL_NAMES } from '../system/macos-sysctl.js';

/** The text `floodgate doctor` prints: raw values first (so nothing is hidden), then conclusions. */
export function renderLimitsReport(r: LimitsReport, listener?: ListenerReport): string {
  const s = r.snapshot;
  const out: string[] = [`Limits (${s.platform}${s.netnsOf !== undefined ? `; per-namespace settings from the network namespace of pid ${s.netnsOf}, read through nsenter` : ''})`];
  const raw = (s.linux ?? s.mac ?? {}) as Record<string, unknown>;
  const names: Record<string, string> = s.linux ? LINUX_SYSCTL_NAMES : MAC_SYSCTL_NAMES;
  for (const [field, name] of Object.entries(names)) {
    const v = raw[field];
    const hostWide = s.linux !== undefined && HOST_WIDE_SYSCTLS.has(field as keyof LinuxSysctls);
    const value = v === undefined
      ? hostWide && s.readerInOwnNetns ? 'host-wide, not visible here (read it on the host)' : '(not present)'
      : Array.isArray(v) ? v.join(' ') : String(v);
    const label = v === undefined ? '' : hostWide ? ' (host-wide)' : s.netnsOf !== undefined ? ` (network namespace of pid ${s.netnsOf})` : '';
    out.push(`  ${name.padEnd(34)} ${value}${label}`);
  }
  out.push(`  ${'TIME_WAIT'.padEnd(34)} ${s.timeWaitSeconds} s`);
  out.push(`  ${'RLIMIT_NOFILE soft/hard'.padEnd(34)} ${s.fdLimits.soft ?? '?'} / ${s.fdLimits.hard ?? '?'} (${s.fdLimits.pid === 'self' ? 'this process' : `pid ${s.fdLimits.pid}`})`);
  out.push(`  ${'memory limit'.padEnd(34)} ${formatBytes(s.memory.bytes)} (${s.memory.source})`);
  const i = r.implications;
  out.push('', 'Implications');
  if (i.maxNewConnectionsPerSecond !== undefined) {
    out.push(`  new connections/s to one destination  ≈${formatCount(i.maxNewConnectionsPerSecond)} per source IP (${formatCount(i.usablePorts!)} ports / ${s.timeWaitSeconds} s)`);
  }
  out.push(`  effective backlog                      ${i.backlog.effective === undefined ? 'unknown' : formatCount(i.backlog.effective)} (requested ${formatCount(i.backlog.requested)}, somaxconn ${i.backlog.somaxconn ?? '?'})`);
  out.push(`  connections per process                ${formatCount(i.perProcess.connections)} (by ${i.perProcess.limitedBy}; fds ${i.perProcess.fdCap === undefined ? '?' : formatCount(i.perProcess.fdCap)}, memory ${formatCount(i.perProcess.memoryCap)})`);
  out.push(`  connections per machine                ${formatCount(i.perMachine.connections)} (memory ${formatCount(i.perMachine.memoryCap)}, file-max ${i.perMachine.fileMax === undefined ? '?' : formatCount(i.perMachine.fileMax)}${i.perMachine.conntrackMax === undefined ? '' : `, conntrack ${formatCount(i.perMachine.conntrackMax)}`})`);
  out.push('', 'Findings', renderFindings(r.findings));
  if (listener) out.push('', `Listener (${listener.port !== undefined ? `port ${listener.port}` : `pid ${listener.pid}`})`, renderFindings(listener.findings));
  const targetParts = Object.entries(r.targets).filter(([, v]) => v !== undefined);
  if (targetParts.length > 0) {
    out.push('', r.targetsMet ? 'Targets: can be met with these limits.' : 'Targets: CANNOT be met with these limits (see ERROR findings).');
  }
  return out.join('\n');
}
