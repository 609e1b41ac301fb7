/**
 * Recognises the one request shape nearly every WebSocket client sends, straight from the first
 * bytes of a connection, so the common upgrade skips Node's HTTP server machinery (a parser, an
 * IncomingMessage stream and a dozen socket listeners per connection, all thrown away at the
 * upgrade). It is deliberately narrower than HTTP: a request is taken here only when it is a
 * well-formed `GET <path> HTTP/1.1` WebSocket upgrade whose every byte is one that Node's strict
 * parser (llhttp) and RFC 6455 accept, with no header repeated.
 * Anything else, however slightly off (obs-fold, bytes over 0x7E, a body, a duplicate Host, a
 * subprotocol offer, a missing key), is answered `fallback` and the unchanged bytes go to the
 * HTTP server, which refuses or serves them exactly as before. So the fast path can only accept
 * a subset of what the old path accepted, never more.
 */

/** The parts of a request the upgrade handler reads (an IncomingMessage has them too). */
export interface UpgradeRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** Lower-case names; each value as sent (trimmed of optional whitespace). */
  headers: Record<string, string | undefined>;
}

export type UpgradeParse =
  | { kind: 'incomplete' }
  | { kind: 'fallback' }
  | { kind: 'upgrade'; req: UpgradeRequest; key: string; head: Buffer };

/** Bytes of request head the fast path waits for; past this the HTTP server (limit 16 KiB) decides. */
export const MAX_FAST_HEAD = 8192;

const CR = 13;
const LF = 10;
const COLON = 58;
const SP = 32;
const HTAB = 9;

// RFC 9110 tchar: the only bytes of a header name.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

// RFC 3986 origin-form (path and query): unreserved, sub-delims, ":", "@", "/", "?", "%".
const PCHAR = new Uint8Array(128);
for (const c of "-._~!$&'()*+,;=:@/?%") PCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) PCHAR[c] = 1;
for (let c = 65; c <= 90; c++) PCHAR[c] = 1;
for (let c = 97; c <= 122; c++) PCHAR[c] = 1;

/** Sec-WebSocket-Key: base64 of 16 bytes (RFC 6455 §4.2.1; the same check as ws). */
const KEY_RE = /^[+/0-9A-Za-z]{22}==$/;

/** Headers that send the request to the HTTP server whatever their value. */
const FALLBACK_HEADERS = new Set([
  'content-length', 'transfer-encoding', // a body on an upgrade: let the real parser judge it
  'sec-websocket-protocol', 'sec-websocket-extensions', // negotiation stays with ws
  'expect',
]);

const PREFIX = Buffer.from('GET /', 'latin1');

/** Whether the first bytes can still become a fast-path request (cheap check before buffering). */
export function mayBeUpgrade(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, PREFIX.length);
  for (let i = 0; i < n; i++) if (chunk[i] !== PREFIX[i]) return false;
  return true;
}

/** `connection` is a comma-separated token list; it must name `upgrade`. */
function hasUpgradeToken(value: string): boolean {
  for (const part of value.split(',')) if (part.trim().toLowerCase() === 'upgrade') return true;
  return false;
}

export function parseUpgrade(buf: Buffer): UpgradeParse {
  if (!mayBeUpgrade(buf)) return { kind: 'fallback' };
  const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
  if (end < 0) return buf.length > MAX_FAST_HEAD ? { kind: 'fallback' } : { kind: 'incomplete' };
  if (end + 4 > MAX_FAST_HEAD) return { kind: 'fallback' };

  // request line: "GET " origin-form " HTTP/1.1" CRLF
  let i = 4;
  while (i < end && buf[i] < 128 && PCHAR[buf[i]] === 1) i++;
  if (i === 4 || buf[i] !== SP) return { kind: 'fallback' };
  const url = buf.toString('latin1', 4, i);
  if (buf.toString('latin1', i, i + 11) !== ' HTTP/1.1\r\n') return { kind: 'fallback' };
  i += 11;

  const headers = Object.create(null) as Record<string, string | undefined>;
  while (i < end + 2) {
    // name: 1*tchar ":" (no whitespace before the colon, no obs-fold line starting with SP/HTAB)
    const nameStart = i;
    while (buf[i] < 128 && TCHAR[buf[i]] === 1) i++;
    if (i === nameStart || buf[i] !== COLON) return { kind: 'fallback' };
    const name = buf.toString('latin1', nameStart, i).toLowerCase();
    i++;
    // value: OWS *(VCHAR / SP / HTAB) OWS CRLF; no other control byte, nothing over 0x7E
    let vStart = i;
    let lineEnd = i;
    while (true) {
      const b = buf[lineEnd];
      if (b === CR) break;
      if (b !== HTAB && (b < SP || b > 126)) return { kind: 'fallback' };
      lineEnd++;
    }
    if (buf[lineEnd + 1] !== LF) return { kind: 'fallback' };
    let vEnd = lineEnd;
    while (vStart < vEnd && (buf[vStart] === SP || buf[vStart] === HTAB)) vStart++;
    while (vEnd > vStart && (buf[vEnd - 1] === SP || buf[vEnd - 1] === HTAB)) vEnd--;
    if (FALLBACK_HEADERS.has(name)) return { kind: 'fallback' };
    // a repeated field is combined by some rules and dropped by others: the HTTP server decides
    if (headers[name] !== undefined || name === '__proto__') return { kind: 'fallback' };
    headers[name] = buf.toString('latin1', vStart, vEnd);
    i = lineEnd + 2;
  }

  const key = headers['sec-websocket-key'];
  if (
    headers.host === undefined ||
    headers.upgrade?.toLowerCase() !== 'websocket' ||
    headers.connection === undefined || !hasUpgradeToken(headers.connection) ||
    headers['sec-websocket-version'] !== '13' ||
    key === undefined || !KEY_RE.test(key)
  ) {
    return { kind: 'fallback' };
  }
  return {
    kind: 'upgrade',
    req: { method: 'GET', url, httpVersion: '1.1', headers },
    key,
    head: end + 4 < buf.length ? buf.subarray(end + 4) : EMPTY,
  };
}

const EMPTY = Buffer.alloc(0);
