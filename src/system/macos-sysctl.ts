import { execFileSync } from 'node:child_process';

/** The macOS settings that decide connection capacity, from `sysctl -n`. */
export interface MacSysctls {
  somaxconn?: number;
  /** Maximum segment lifetime in ms; TIME_WAIT lasts 2 × MSL (15,000 ms → 30 s by default). */
  tcpMslMs?: number;
  portRangeFirst?: number;
  portRangeLast?: number;
  maxFiles?: number;
  maxFilesPerProc?: number;
}

export const MAC_SYSCTL_NAMES: Record<keyof MacSysctls, string> = {
  somaxconn: 'kern.ipc.somaxconn',
  tcpMslMs: 'net.inet.tcp.msl',
  portRangeFirst: 'net.inet.ip.portrange.first',
  portRangeLast: 'net.inet.ip.portrange.last',
  maxFiles: 'kern.maxfiles',
  maxFilesPerProc: 'kern.maxfilesperproc',
};

/**
 * Parses the output of `sysctl -n name1 name2 …`: one value per line, in the order asked.
 * An unknown name makes sysctl print an error on stderr and skip the line, so callers that get a
 * short answer fall back to one name per call (readMacSysctls does).
 */
export function parseMacSysctlValues(names: readonly string[], stdout: string): Record<string, number> {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const out: Record<string, number> = {};
  if (lines.length !== names.length) return out;
  names.forEach((name, i) => {
    const n = Number(lines[i]);
    if (Number.isFinite(n)) out[name] = n;
  });
  return out;
}

export function macSysctlsFromValues(values: Record<string, number>): MacSysctls {
  const out: MacSysctls = {};
  for (const [field, name] of Object.entries(MAC_SYSCTL_NAMES) as [keyof MacSysctls, string][]) {
    if (values[name] !== undefined) out[field] = values[name];
  }
  return out;
}

/** TIME_WAIT on macOS is 2 × MSL. */
export function macTimeWaitSeconds(s: MacSysctls): number {
  return (2 * (s.tcpMslMs ?? 15_000)) / 1000;
}

export type SysctlRunner = (names: readonly string[]) => string;

const runSysctl: SysctlRunner = (names) =>
  execFileSync('sysctl', ['-n', ...names], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });

/** Reads the settings through `sysctl -n`; `run` is replaceable so tests feed recorded output. */
export function readMacSysctls(run: SysctlRunner = runSysctl): MacSysctls {
  const names = Object.values(MAC_SYSCTL_NAMES);
  let values: Record<string, number> = {};
  try {
    values = parseMacSysctlValues(names, run(names));
  } catch {
    // one unknown oid fails the whole call: fall back to one call per name
  }
  if (Object.keys(values).length < names.length) {
    for (const name of names) {
      if (values[name] !== undefined) continue;
      try {
        Object.assign(values, parseMacSysctlValues([name], run([name])));
      } catch {
        // not present on this release
      }
    }
  }
  return macSysctlsFromValues(values);
}
