import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

/** What a server frame meant to the generator. */
export type FrameEvent =
  | { kind: 'text'; text: string }
  | { kind: 'binary' }
  | { kind: 'ping'; payload: Buffer }
  | { kind: 'close'; code: number | undefined; reason: string }
  | { kind: 'error'; detail: string; example: string };

/** Close codes a peer may send on the wire (RFC 6455 §7.4, IANA registry). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * Parses server→client frames from `buf`. Returns the events and the bytes not yet consumed.
 * Fragmented messages are joined (kept in `state.fragments`).
 */
/** Largest server message (or sum of fragments) the generator accepts: no Floodgate frame comes near it. */
export const MAX_SERVER_MESSAGE = 64 * 1024 * 1024;
/** Most fragments of one server message: empty continuation frames add no bytes but each is kept. */
export const MAX_SERVER_FRAGMENTS = 4096;

export function parseFrames(buf: Buffer, state: { fragments?: Buffer[]; fragOpcode?: number; fragBytes?: number }): { events: FrameEvent[]; rest: Buffer } {
  const events: FrameEvent[] = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off];
    const b1 = buf[off + 1];
    const fin = (b0 & 0x80) !== 0;
    const rsv = b0 & 0x70;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      head = 10;
    }
    if (masked) head += 4;
    // a length the generator would wait for forever (or buffer without bound) ends the connection now
    if (len > MAX_SERVER_MESSAGE || (state.fragBytes ?? 0) + len > MAX_SERVER_MESSAGE) {
      return { events: [...events, { kind: 'error', detail: 'message_too_big', example: `server frame of ${len} B (limit ${MAX_SERVER_MESSAGE} B)` }], rest: Buffer.alloc(0) };
    }
    if (buf.length - off < head + len) break;
    const raw = `fin=${fin ? 1 : 0} rsv=${rsv >> 4} opcode=${opcode} masked=${masked ? 1 : 0} len=${len}`;
    if (rsv !== 0) return { events: [...events, { kind: 'error', detail: 'protocol_error', example: `reserved bits set (${raw})` }], rest: Buffer.alloc(0) };
    if (masked) return { events: [...events, { kind: 'error', detail: 'protocol_error', example: `server frame is masked (${raw})` }], rest: Buffer.alloc(0) };
    const payload = buf.subarray(off + head, off + head + len);
    off += head + len;
    if (opcode >= 8) {
      if (!fin || len > 125) return { events: [...events, { kind: 'error', detail: 'protocol_error', example: `bad control frame (${raw})` }], rest: Buffer.alloc(0) };
      if (opcode === 8) {
        if (len === 1) return { events: [...events, { kind: 'error', detail: 'protocol_error', example: 'close frame with a 1-byte payload' }], rest: Buffer.alloc(0) };
        const code = len >= 2 ? payload.readUInt16BE(0) : undefined;
        const reasonBytes = payload.subarray(2);
        if (!isUtf8(reasonBytes)) return { events: [...events, { kind: 'error', detail: 'invalid_utf8', example: `close reason bytes ${reasonBytes.toString('hex').slice(0, 40)}` }], rest: Buffer.alloc(0) };
        if (code !== undefined && !isValidCloseCode(code)) {
          return { events: [...events, { kind: 'error', detail: `bad_close_code_${code}`, example: `close code ${code} is not allowed on the wire (reason "${reasonBytes.toString()}")` }], rest: Buffer.alloc(0) };
        }
        events.push({ kind: 'close', code, reason: reasonBytes.toString() });
        return { events, rest: Buffer.alloc(0) };
      }
      if (opcode === 9) events.push({ kind: 'ping', payload: Buffer.from(payload) });
      else if (opcode !== 10) return { events: [...events, { kind: 'error', detail: 'protocol_error', example: `unknown control opcode (${raw})` }], rest: Buffer.alloc(0) };
      continue;
    }
    let data: Buffer;
    let op = opcode;
    if (opcode === 0) {
      if (!state.fragments) return { events: [...events, { kind: 'error', detail: 'protocol_error', example: `continuation without a start (${raw})` }], rest: Buffer.alloc(0) };
      if (state.fragments.length >= MAX_SERVER_FRAGMENTS) {
        return { events: [...events, { kind: 'error', detail: 'message_too_big', example: `server message in more than ${MAX_SERVER_FRAGMENTS} fragments` }], rest: Buffer.alloc(0) };
      }
      state.fragments.push(Buffer.from(payload));
      state.fragBytes = (state.fragBytes ?? 0) + len;
      if (!fin) continue;
      data = Buffer.concat(state.fragments);
      op = state.fragOpcode ?? 1;
      state.fragments = undefined;
      state.fragBytes = 0;
    } else if (opcode === 1 || opcode === 2) {
      if (state.fragments) return { events: [...events, { kind: 'error', detail: 'protocol_error', example: `new message inside a fragmented one (${raw})` }], rest: Buffer.alloc(0) };
      if (!fin) {
        state.fragments = [Buffer.from(payload)];
        state.fragOpcode = opcode;
        state.fragBytes = len;
        continue;
      }
      data = payload;
    } else {
      return { events: [...events, { kind: 'error', detail: 'protocol_error', example: `unknown opcode (${raw})` }], rest: Buffer.alloc(0) };
    }
    if (op === 2) {
      events.push({ kind: 'binary' });
    } else if (!isUtf8(data)) {
      return { events: [...events, { kind: 'error', detail: 'invalid_utf8', example: `text frame bytes ${data.toString('hex').slice(0, 40)}` }], rest: Buffer.alloc(0) };
    } else {
      events.push({ kind: 'text', text: data.toString() });
    }
  }
  return { events, rest: off === buf.length ? EMPTY : buf.subarray(off) };
}

const EMPTY = Buffer.alloc(0);

/**
 * How many bytes `rest` (unread bytes that start at a frame boundary, as parseFrames leaves them)
 * must grow to before its first frame is whole: the reader waits for that many instead of
 * joining and re-parsing on every chunk, which for a large frame arriving in 64 KB pieces copied
 * the whole frame again per piece (quadratic: a 60 MB frame cost minutes of CPU).
 */
export function frameBytesNeeded(rest: Buffer): number {
  if (rest.length < 2) return 2;
  const len7 = rest[1] & 0x7f;
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  if (rest.length < 2 + ext) return 2 + ext;
  const len = len7 === 126 ? rest.readUInt16BE(2) : len7 === 127 ? Number(rest.readBigUInt64BE(2)) : len7;
  return 2 + ext + ((rest[1] & 0x80) !== 0 ? 4 : 0) + len;
}

/** A masked client frame (clients must mask, RFC 6455 §5.3). */
export function encodeClientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = out.subarray(head, head + 4);
  randomFillSync(mask);
  for (let i = 0; i < len; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}
