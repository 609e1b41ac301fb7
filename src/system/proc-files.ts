import { readFileSync } from 'node:fs';

/** Reads a small text file under /proc or /sys; undefined when it does not exist (other OS, no permission). */
export function readProcFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads a sysctl by its dotted name through /proc/sys (Linux only). */
export function readSysctl(name: string): string | undefined {
  const raw = readProcFile(`/proc/sys/${name.replace(/\./g, '/')}`);
  return raw === undefined ? undefined : raw.trim();
}

export function readSysctlInt(name: string): number | undefined {
  const raw = readSysctl(name);
  if (raw === undefined) return undefined;
  const n = Number.parseInt(raw, 10);
  return Number.isFinite(n) ? n : undefined;
}
