/**
 * JSON has no Infinity, but JSON.parse turns a number literal too large for a double
 * (`1e400`, or 309+ digits) into Infinity, which JSON.stringify then writes as `null`: a
 * publication would reach subscribers changed without a word. Such frames are refused instead.
 *
 * The common frame pays one regular-expression scan of its text; only a frame holding a literal
 * that could overflow (3-digit exponent, or 309 digits in a row) gets its value walked, with an
 * explicit stack (no recursion: the depth bound was checked before, but this must not rely on it).
 */
const MAY_OVERFLOW = /\d[eE]\+?\d{3}|\d{309}/;

export function holdsNonFiniteNumber(text: string, value: unknown): boolean {
  if (!MAY_OVERFLOW.test(text)) return false;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return true;
    } else if (v !== null && typeof v === 'object') {
      for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push(child);
    }
  }
  return false;
}
