/** Human units accepted in flags, env and files: durations ("500ms", "5s", "2m") and sizes ("64KB", "512MB"). */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
// Sizes are binary: 1 KB = 1024 bytes, as memory limits are usually written (512MB = 512 MiB).
const SIZE_UNITS: Record<string, number> = {
  b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** A number as people write it: decimal, with an optional fraction and exponent (not 0x/0b/0o, not blank). */
export const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Parses a duration into milliseconds; a bare number is milliseconds. NaN when it cannot be read. */
export function parseDuration(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return Number.NaN;
  const m = value.trim().toLowerCase().match(/^(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/);
  if (!m) return Number.NaN;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']);
}

/** Parses a size into bytes; a bare number is bytes. NaN when it cannot be read. */
export function parseSize(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return Number.NaN;
  const m = value.trim().toLowerCase().match(/^(-?\d+(?:\.\d+)?)\s*([a-z]+)?$/);
  if (!m) return Number.NaN;
  const unit = SIZE_UNITS[m[2] ?? 'b'];
  return unit === undefined ? Number.NaN : Math.round(Number(m[1]) * unit);
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0 (off)';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(abs % 1024 ** 3 === 0 ? 0 : 1)} GiB`;
  if (abs >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(abs % 1024 ** 2 === 0 ? 0 : 1)} MiB`;
  if (abs >= 1024) return `${(bytes / 1024).toFixed(abs % 1024 === 0 ? 0 : 1)} KiB`;
  return `${bytes} B`;
}

/** A duration the way users type it (`5s`, `250ms`, `2m`): for --help and docs, where the value is copied back. */
export function formatDurationInput(ms: number): string {
  if (ms === 0) return '0';
  return formatDuration(ms);
}

/** A size the way users type it (`64MB`, `16KB`, `1GB`); binary like parseSize. */
export function formatSizeInput(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [unit, n] of [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return `${bytes}B`;
}
