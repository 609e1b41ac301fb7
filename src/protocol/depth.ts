/**
 * Nesting depth of JSON text, measured by one loop over the characters: no recursion, so no
 * input can overflow the stack here. It runs before anything recursive touches the value (the
 * schema check, JSON.stringify when a publication is encoded), which is what keeps a deeply
 * nested `data` from killing the process.
 *
 * Depth counts the frame's own object: `{"type":"ping"}` is 1, `{"data":[1]}` is 2.
 */

/** Default of the `maxDepth` setting. */
export const DEFAULT_MAX_DEPTH = 32;

const OPEN_BRACE = 0x7b; // {
const OPEN_BRACKET = 0x5b; // [
const CLOSE_BRACE = 0x7d; // }
const CLOSE_BRACKET = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Whether `text` nests arrays/objects deeper than `maxDepth`. Most frames hold fewer brackets in
 * total than the limit; those are answered by two native indexOf scans without walking the text
 * character by character (brackets inside strings are counted too, which only errs towards the
 * full scan).
 */
export function exceedsDepth(text: string, maxDepth: number): boolean {
  if (!hasMoreOpenersThan(text, maxDepth)) return false;
  return nestingDepth(text, maxDepth) > maxDepth;
}

function hasMoreOpenersThan(text: string, limit: number): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > limit) return true;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > limit) return true;
  return false;
}

/**
 * The deepest nesting of `text` outside strings, stopping early once it passes `stopAbove`.
 * Not a validator: unbalanced or malformed text still gets a number (JSON.parse judges syntax).
 */
export function nestingDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && depth > 0) {
      depth--;
    }
  }
  return max;
}
