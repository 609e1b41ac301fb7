import { FloodgateError } from '../errors.js';
import { DECIMAL_NUMBER, parseDuration, parseSize } from '../config/units.js';

/** Validation of CLI values for doctor/tune/watch/plan; errors name the flag, the value and the range. */

function fail(flag: string, value: unknown, accepted: string): never {
  throw new FloodgateError('FG_ERR_INVALID_CONFIG', `\`${flag}\` must be ${accepted}, got \`${String(value)}\`.`, { field: flag, value });
}

/** Decimal text to a number; NaN for anything else (Number() reads 0x10 as 16 and '' as 0). */
function decimal(text: string): number {
  return DECIMAL_NUMBER.test(text.trim()) ? Number(text) : Number.NaN;
}

export function intFlag(flag: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'number' ? value : decimal(String(value).replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min || n > max) fail(flag, value, `an integer from ${min} to ${max}`);
  return n;
}

export function numberFlag(flag: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'number' ? value : decimal(String(value));
  if (!Number.isFinite(n) || n < min || n > max) fail(flag, value, `a number from ${min} to ${max}`);
  return n;
}

/** "2000/s", "2000", "120000/m" → per second. */
export function rateFlag(flag: string, value: unknown): number {
  const m = String(value).trim().match(/^(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m|min))?$/);
  if (!m) fail(flag, value, 'a rate like `2000/s` or `120000/m`');
  const n = Number(m[1]) / (m[2] === undefined || m[2] === 's' ? 1 : 60);
  if (n <= 0 || n > 10_000_000) fail(flag, value, 'a rate from 1/s to 10000000/s');
  return n;
}

/** "25%" or "0.25" → 0.25. */
export function ratioFlag(flag: string, value: unknown, max = 1): number {
  const s = String(value).trim();
  const n = s.endsWith('%') ? decimal(s.slice(0, -1)) / 100 : decimal(s);
  if (!Number.isFinite(n) || n < 0 || n > max) fail(flag, value, `a fraction from 0 to ${max} (or a percentage like \`5%\`)`);
  return n;
}

export function sizeFlag(flag: string, value: unknown, min = 0): number {
  const n = parseSize(value);
  if (!Number.isFinite(n) || n < min) fail(flag, value, `a size like \`180KB\`, \`512MB\` or \`2GB\` (binary units), at least ${min} B`);
  return n;
}

export function durationFlag(flag: string, value: unknown, min: number, max: number): number {
  const n = parseDuration(value);
  if (!Number.isFinite(n) || n < min || n > max) fail(flag, value, `a duration like \`1s\` or \`500ms\` from ${min} ms to ${max} ms`);
  return n;
}
