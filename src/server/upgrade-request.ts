/**
 * Recognises the one request shape nearly every WebSocket client sends, straight from the first
 * bytes of a connection, so the common upgrade skips Node's HTTP server machinery (a parser, an
 * IncomingMessage stream and a dozen socket listeners per connection, all thrown away at the
 * upgrade). It is deliberately narrower than HTTP: a request is taken here only when it is a
 * well-formed `GET <path> HTTP/1.1` WebSocket upgrade whose every byte is one that Node's strict
 * parser (llhttp) and RFC 6455 accept, with no header repeated.
 * Anything else, however slightly off (obs-fold, bytes over 0x7E, a body, a duplicate Host, a
 * subprotocol offer, an extension offer when compression is on, a missing key, a repeated
 * Host or key), is answered `fallback` and the unchanged bytes go to the
 * HTTP server, which refuses or serves them exactly as before. So the fast path can only accept
 * a subset of what the old path accepted, never more.
 */

/** The parts of a request the upgrade handler reads (an IncomingMessage has them too). */
export interface UpgradeRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** The fields the upgrade reads, lower-case names, each value as sent (trimmed of optional whitespace). */
  headers: {
    host?: string;
    upgrade?: string;
    connection?: string;
    'sec-websocket-key'?: string;
    'sec-websocket-version'?: string;
    origin?: string;
    authorization?: string;
  };
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
  'sec-websocket-protocol', // subprotocol choice stays with ws
  'expect',
]);

/** The names this parser reads or refuses, by length (a sparse lookup before any string is built). */
const FIELD_BY_LENGTH: (true | undefined)[] = [];
for (const name of ['host', 'upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'origin', 'authorization', 'sec-websocket-extensions', ...FALLBACK_HEADERS]) {
  FIELD_BY_LENGTH[name.length] = true;
}

const PREFIX = Buffer.from('GET /', 'latin1');

/** Whether the first bytes can still become a fast-path request (cheap check before buffering). */
export function mayBeUpgrade(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, PREFIX.length);
  for (let i = 0; i < n; i++) if (chunk[i] !== PREFIX[i]) return false;
  return true;
}

/** `connection` is a comma-separated token list; it must name `upgrade`. */
function hasUpgradeToken(value: string): boolean {
  if (value.length === 7 && value.toLowerCase() === 'upgrade') return true;
  for (const part of value.split(',')) if (part.trim().toLowerCase() === 'upgrade') return true;
  return false;
}

/**
 * `compression`: whether the gateway negotiates permessage-deflate. Without it an extension
 * offer (every browser sends one) is ignored, as ws ignores it; with it, ws negotiates.
 */
export function parseUpgrade(buf: Buffer, compression = false): UpgradeParse {
  if (!mayBeUpgrade(buf)) return { kind: 'fallback' };
  // one latin1 string for the whole head: string scans and slices are far cheaper than a
  // native Buffer call per field
  const text = buf.toString('latin1', 0, Math.min(buf.length, MAX_FAST_HEAD + 1));
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > MAX_FAST_HEAD ? { kind: 'fallback' } : { kind: 'incomplete' };
  if (end + 4 > MAX_FAST_HEAD) return { kind: 'fallback' };

  // request line: "GET " origin-form " HTTP/1.1" CRLF
  let i = 4;
  let c = text.charCodeAt(i);
  while (c < 128 && PCHAR[c] === 1) c = text.charCodeAt(++i);
  if (i === 4 || c !== SP || !text.startsWith(' HTTP/1.1\r\n', i)) return { kind: 'fallback' };
  const url = text.slice(4, i);
  i += 11;

  // Only the fields the upgrade reads are kept; each must come once. Others are checked for
  // their bytes and skipped (ws and the gateway never read them).
  let host: string | undefined;
  let upgrade: string | undefined;
  let connection: string | undefined;
  let key: string | undefined;
  let version: string | undefined;
  let origin: string | undefined;
  let authorization: string | undefined;
  while (i < end + 2) {
    // name: 1*tchar ":" (no whitespace before the colon, no obs-fold line starting with SP/HTAB)
    const nameStart = i;
    c = text.charCodeAt(i);
    while (c < 128 && TCHAR[c] === 1) c = text.charCodeAt(++i);
    if (i === nameStart || c !== COLON) return { kind: 'fallback' };
    const nameEnd = i;
    i++;
    // value: OWS *(VCHAR / SP / HTAB) OWS CRLF; no other control byte, nothing over 0x7E
    const lineEnd = text.indexOf('\r', i);
    if (text.charCodeAt(lineEnd + 1) !== LF) return { kind: 'fallback' };
    let vStart = i;
    let vEnd = lineEnd;
    for (let j = i; j < lineEnd; j++) {
      c = text.charCodeAt(j);
      if (c !== HTAB && (c < SP || c > 126)) return { kind: 'fallback' };
    }
    while (vStart < vEnd && ((c = text.charCodeAt(vStart)) === SP || c === HTAB)) vStart++;
    while (vEnd > vStart && ((c = text.charCodeAt(vEnd - 1)) === SP || c === HTAB)) vEnd--;
    i = lineEnd + 2;
    // names are matched by length first: most lines are decided without building a string
    const field = FIELD_BY_LENGTH[nameEnd - nameStart];
    if (field === undefined) continue;
    const name = text.slice(nameStart, nameEnd).toLowerCase();
    if (FALLBACK_HEADERS.has(name) || (compression && name === 'sec-websocket-extensions')) return { kind: 'fallback' };
    const value = text.slice(vStart, vEnd);
    // a repeated field is combined by some rules and dropped by others: the HTTP server decides
    switch (name) {
      case 'host': if (host !== undefined) return { kind: 'fallback' }; host = value; break;
      case 'upgrade': if (upgrade !== undefined) return { kind: 'fallback' }; upgrade = value; break;
      case 'connection': if (connection !== undefined) return { kind: 'fallback' }; connection = value; break;
      case 'sec-websocket-key': if (key !== undefined) return { kind: 'fallback' }; key = value; break;
      case 'sec-websocket-version': if (version !== undefined) return { kind: 'fallback' }; version = value; break;
      case 'origin': if (origin !== undefined) return { kind: 'fallback' }; origin = value; break;
      case 'authorization': if (authorization !== undefined) return { kind: 'fallback' }; authorization = value; break;
    }
  }

  if (
    host === undefined ||
    upgrade === undefined || (upgrade !== 'websocket' && upgrade.toLowerCase() !== 'websocket') ||
    connection === undefined || !hasUpgradeToken(connection) ||
    version !== '13' ||
    key === undefined || !KEY_RE.test(key)
  ) {
    return { kind: 'fallback' };
  }
  return {
    kind: 'upgrade',
    req: {
      method: 'GET', url, httpVersion: '1.1',
      headers: { host, upgrade, connection, 'sec-websocket-key': key, 'sec-websocket-version': version, origin, authorization },
    },
    key,
    head: end + 4 < buf.length ? buf.subarray(end + 4) : EMPTY,
  };
}

const EMPTY = Buffer.alloc(0);
