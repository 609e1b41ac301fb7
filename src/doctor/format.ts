/** Human formatting shared by doctor, plan, watch and the run diagnosis. */

/** 12000 → "12,000" (fixed locale so output and tests do not depend on the machine's). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? 'unlimited' : String(n);
  return Math.round(n).toLocaleString('en-US');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = i === 0 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  return `${s} ${units[i]}`;
}

export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(fraction < 0.1 && fraction > 0 ? 1 : 0)}%`;
}

/** Largest power of two ≤ n (n ≥ 1). */
export function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)));
}

/** A per-second rate: whole numbers from 10 up, one decimal below (32 ports / 60 s = "0.5"). */
export function formatRate(perSecond: number): string {
  return perSecond >= 10 ? formatCount(Math.floor(perSecond)) : (Math.floor(perSecond * 10) / 10).toFixed(1);
}
