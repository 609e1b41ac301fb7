// The client-frame decoder as it was before issue 10 (commit 509554c, src/protocol/codec.ts), kept
// verbatim as the baseline of the decoder-cost benchmark: same zod schema, no depth check.
import { z } from 'zod';
import type { ErrorCode } from '../../src/errors.js';
import { CHANNEL_PATTERN, type ClientFrame, type Json, type MessageFrame, type ServerFrame } from '../../src/protocol/frames.js';

const id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional();
const channel = z.string().regex(CHANNEL_PATTERN);

const clientFrameSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('subscribe'),
    id,
    channel,
    recover: z.object({ epoch: z.string().min(1).max(64), offset: z.number().int().min(0) }).optional(),
  }),
  z.object({ type: z.literal('unsubscribe'), id, channel }),
  z.object({ type: z.literal('publish'), id, channel, data: z.json() }),
  z.object({ type: z.literal('ping'), id }),
]);

export type DecodeResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; id?: number };

const KNOWN_TYPES = new Set(['subscribe', 'unsubscribe', 'publish', 'ping']);

/** Decodes one inbound text frame. Never throws: a bad frame yields a coded error for the client. */
export function decodeClientFramePrevious(text: string): DecodeResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'FG_ERR_BAD_FRAME', message: 'frame is not valid JSON' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, code: 'FG_ERR_BAD_FRAME', message: 'frame must be a JSON object' };
  }
  const obj = raw as Record<string, unknown>;
  const frameId = typeof obj.id === 'number' && Number.isSafeInteger(obj.id) && obj.id >= 0 ? obj.id : undefined;
  if (typeof obj.type !== 'string' || !KNOWN_TYPES.has(obj.type)) {
    return { ok: false, code: 'FG_ERR_UNKNOWN_TYPE', message: `unknown frame type ${JSON.stringify(obj.type)}; expected subscribe, unsubscribe, publish or ping`, id: frameId };
  }
  if ('channel' in obj && (typeof obj.channel !== 'string' || !CHANNEL_PATTERN.test(obj.channel))) {
    return { ok: false, code: 'FG_ERR_BAD_CHANNEL', message: 'channel must be 1–128 characters of A-Z a-z 0-9 _ - : . @ /', id: frameId };
  }
  const parsed = clientFrameSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || 'frame';
    return { ok: false, code: 'FG_ERR_BAD_FRAME', message: `${path}: ${issue?.message ?? 'invalid'}`, id: frameId };
  }
  return { ok: true, frame: parsed.data as ClientFrame };
}

