import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';

interface FrameOptions { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }
// ws's ESM entry exports its Sender class; the type package does not declare it.
const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } }).Sender;

/**
 * Writes one publication to many sockets with the WebSocket frame built once. Server frames
 * are unmasked, so the same bytes serve every subscriber: we frame the text once and hand
 * the buffer to each connection's ws Sender, which keeps ws's ordering rules (it only takes
 * the fast path when the Sender is idle, its queue empty and compression off; otherwise
 * ws.send() frames it as usual).
 */

interface SenderInternals {
  _state: number;
  _queue: unknown[];
  _socket: Socket;
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
}

/** ws 8 keeps its Sender on `_sender`; checked once here so an upgrade that changes it falls back safely. */
function senderOf(ws: WebSocket): SenderInternals | undefined {
  const s = (ws as unknown as { _sender?: SenderInternals })._sender;
  return s && typeof s.sendFrame === 'function' && Array.isArray(s._queue) ? s : undefined;
}

export function buildTextFrame(payload: Buffer): Buffer {
  const parts = Sender.frame(payload, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true });
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

export function writePrebuilt(ws: WebSocket, wire: Buffer, payload: Buffer, compression: boolean): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  const sender = compression ? undefined : senderOf(ws);
  if (sender && sender._state === 0 && sender._queue.length === 0) {
    sender.sendFrame([wire]);
  } else {
    ws.send(payload, { binary: false });
  }
}

/**
 * An unmasked ping with no payload, the same two bytes for every connection: the liveness sweep
 * writes it alone, or appends it to a publication batch so it leaves in the same system call
 * (see Session.write).
 */
export const PING_FRAME: Buffer = Buffer.from([0x89, 0x00]);

/** The payload of an unmasked server text frame built by buildTextFrame (header of 2, 4 or 10 bytes). */
function payloadOf(wire: Buffer): Buffer {
  const len7 = wire[1] & 0x7f;
  return wire.subarray(len7 === 127 ? 10 : len7 === 126 ? 4 : 2);
}

/**
 * Writes one prebuilt frame, or several in one corked write so the kernel sees one `writev`
 * instead of one `write` per frame. Falls back to ws.send() per frame when ws's Sender is busy
 * (then ws keeps the order).
 */
export function writePrebuiltFrames(ws: WebSocket, frames: Buffer | Buffer[]): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  const sender = senderOf(ws);
  const idle = sender !== undefined && sender._state === 0 && sender._queue.length === 0;
  if (Buffer.isBuffer(frames)) {
    // what Sender.sendFrame does with one buffer, without the array it takes
    if (idle) sender._socket.write(frames);
    else sendThroughWs(ws, frames);
    return;
  }
  if (idle) {
    const socket = sender._socket;
    socket.cork();
    for (let i = 0; i < frames.length; i++) socket.write(frames[i]);
    socket.uncork();
    return;
  }
  for (let i = 0; i < frames.length; i++) sendThroughWs(ws, frames[i]);
}

/** ws's Sender is busy (or unknown): hand it the frame's content so it keeps the order. */
function sendThroughWs(ws: WebSocket, frame: Buffer): void {
  if (frame === PING_FRAME) ws.ping();
  else ws.send(payloadOf(frame), { binary: false });
}
