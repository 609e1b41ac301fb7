import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.js';
import { rejectUpgrade } from './reject.js';

/**
 * Every HTTP request the gateway refuses gets a status and the JSON body
 * `{"code": "FG_ERR_…", "message": …}` (docs/errors.md), whoever noticed the problem: our routes,
 * the `ws` library's upgrade checks ('wsClientError'), or Node's HTTP parser ('clientError': bad
 * syntax, a URL or headers over the parser's limit, a request that did not arrive in time).
 */

/** What /stats counts under `http.refused`. */
export interface HttpRefusals {
  upgrade_required: number;
  bad_request: number;
  no_host: number;
  method_not_allowed: number;
  not_found: number;
  uri_too_long: number;
  headers_too_large: number;
  timeout: number;
  admin_forbidden: number;
  ip_connections: number;
}

export function newHttpRefusals(): HttpRefusals {
  return {
    upgrade_required: 0, bad_request: 0, no_host: 0, method_not_allowed: 0, not_found: 0,
    uri_too_long: 0, headers_too_large: 0, timeout: 0, admin_forbidden: 0, ip_connections: 0,
  };
}

export interface Refusal {
  status: number;
  code: ErrorCode;
  kind: keyof HttpRefusals;
  message: string;
  headers?: Record<string, string>;
}

const CRLF = Buffer.from('\r\n');

/**
 * Node's parser error → the refusal. A URL or header block over the parser's limit (16 KiB by
 * default) both arrive as HPE_HEADER_OVERFLOW; when the bytes it choked on do not hold the end
 * of the request line, the URL was the part too long (414), else the headers (431).
 */
export function refusalForParserError(err: Error & { code?: string; rawPacket?: Buffer }): Refusal | undefined {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined; // the client left: nobody to answer
    case 'HPE_HEADER_OVERFLOW': {
      const raw = err.rawPacket;
      if (raw !== undefined && raw.indexOf(CRLF) === -1) {
        return { status: 414, code: 'FG_ERR_URI_TOO_LONG', kind: 'uri_too_long', message: 'the request line (URL) is longer than the server accepts (16 KiB with the headers)' };
      }
      return { status: 431, code: 'FG_ERR_HEADERS_TOO_LARGE', kind: 'headers_too_large', message: 'the request headers are larger than the server accepts (16 KiB)' };
    }
    case 'HPE_HEADER_TIMEOUT':
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'FG_ERR_HTTP_TIMEOUT', kind: 'timeout', message: 'the request did not arrive within handshakeTimeout' };
    default:
      return { status: 400, code: 'FG_ERR_BAD_REQUEST', kind: 'bad_request', message: `malformed HTTP request (${err.code ?? 'parse error'})` };
  }
}

/** The `ws` library's upgrade checks → the refusal (ws names the problem in its message). */
export function refusalForWsError(err: Error): Refusal {
  if (err.message === 'Invalid HTTP method') {
    return { status: 405, code: 'FG_ERR_METHOD_NOT_ALLOWED', kind: 'method_not_allowed', message: 'a WebSocket upgrade must be a GET request', headers: { Allow: 'GET' } };
  }
  const r: Refusal = { status: 400, code: 'FG_ERR_BAD_REQUEST', kind: 'bad_request', message: `bad WebSocket upgrade: ${err.message}` };
  if (/Sec-WebSocket-Version/.test(err.message)) r.headers = { 'Sec-WebSocket-Version': '13, 8' };
  return r;
}

/** Writes the refusal straight to the socket (no response object exists yet) and closes. */
export function refuseOnSocket(socket: Duplex, refusal: Refusal, counters: HttpRefusals): void {
  const s = socket as Duplex & { _httpMessage?: { headersSent?: boolean } };
  if (socket.destroyed || !socket.writable || socket.writableEnded || s._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  counters[refusal.kind]++;
  rejectUpgrade(socket, refusal.status, refusal.code, refusal.message, undefined, refusal.headers);
  // keep reading (and dropping) what the client still sends: closing with unread bytes would
  // make the kernel answer with a reset that can overtake the response
  socket.resume();
}
