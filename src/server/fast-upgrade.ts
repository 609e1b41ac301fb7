import { hash } from 'node:crypto';
import type { Socket } from 'node:net';
import { WebSocket, type WebSocketServer } from 'ws';

/**
 * The end of a fast-path upgrade (see upgrade-request.ts): the 101 answer and the first frame
 * leave in one write of one string, and the socket is handed to a `ws` WebSocket exactly as
 * `WebSocketServer.completeUpgrade` does it (same options, same `setSocket`), so everything after
 * the handshake — framing, limits, close handshake, autoPong — is ws's own.
 */

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). */
export function acceptKey(key: string): string {
  return hash('sha1', key + GUID, 'base64');
}

/**
 * The 101 response followed by one unmasked text frame carrying `payload`, as a latin1 string
 * when the payload is ASCII (one native string write, no Buffer), else as a Buffer.
 */
export function upgradeResponse(accept: string, payload: string): string | Buffer {
  const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
  const bytes = Buffer.byteLength(payload);
  if (bytes === payload.length) return head + frameHeader(bytes) + payload;
  const body = Buffer.from(payload);
  return Buffer.concat([Buffer.from(head + frameHeader(bytes), 'latin1'), body]);
}

/** FIN + text opcode, unmasked, with the 7-, 16- or 64-bit length (RFC 6455 §5.2), as latin1. */
function frameHeader(len: number): string {
  if (len < 126) return String.fromCharCode(0x81, len);
  if (len < 65536) return String.fromCharCode(0x81, 126, len >>> 8, len & 0xff);
  const hi = Math.floor(len / 2 ** 32);
  const lo = len >>> 0;
  return String.fromCharCode(0x81, 127, 0, 0, 0, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
}

interface WsInternals {
  setSocket(socket: Socket, head: Buffer, options: object): void;
}

/** A server-side WebSocket not yet attached to its socket (ws's own constructor for that). */
export function serverWebSocket(wss: WebSocketServer): WebSocket {
  const Ctor = WebSocket as unknown as new (address: null, protocols: undefined, options: object) => WebSocket;
  return new Ctor(null, undefined, wss.options);
}

/** Attaches the socket once the 101 has been written: ws reads frames from here on. */
export function attachSocket(ws: WebSocket, wss: WebSocketServer, socket: Socket, head: Buffer): void {
  const o = wss.options as Record<string, unknown>;
  (ws as unknown as WsInternals).setSocket(socket, head, {
    allowSynchronousEvents: o.allowSynchronousEvents,
    maxBufferedChunks: o.maxBufferedChunks,
    maxFragments: o.maxFragments,
    maxPayload: o.maxPayload,
    skipUTF8Validation: o.skipUTF8Validation,
  });
}
