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
