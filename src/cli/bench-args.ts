import { FloodgateError } from '../errors.js';

/**
 * Checks of `floodgate bench` flag values. Errors name the flag as the user typed it (`--connections/-c`) and the value, not the API field it lands in (`stages[0].connections`), so the message points
 * at the command line.
 */
export function intArg(flag: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const n = /^[\d_,]+$/.test(text) ? Number(text.replace(/[_,]/g, '')) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`${flag}\` to be an integer from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}, got \`${text}\``);
  }
  return n;
}

/** The one-line hint when `bench` has no target at all. */
export const MISSING_TARGET =
  'bench needs a target: floodgate bench ws://host:port/path -c 1000 (or tcp://host:port), or a --scenario file with `url:`';

/** An HTTP header name (RFC 9110 token); a value without CR, LF or NUL (it would start a header line of its own). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
export const HEADER_VALUE = /^[^\r\n\0]*$/;

/** One `-H "Name: value"`: the name is a token, the value holds no line break. */
export function headerArg(text: string): [string, string] {
  const i = text.indexOf(':');
  const name = i > 0 ? text.slice(0, i).trim() : '';
  const value = i > 0 ? text.slice(i + 1).trim() : '';
  if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) {
    throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected \`--header/-H\` as "Name: value" (a name of letters, digits and !#$%&'*+.^_\`|~-, a value without line breaks), got \`${JSON.stringify(text).slice(1, -1).slice(0, 120)}\``);
  }
  return [name, value];
}
