import { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { CHANNEL_PATTERN, hasLoneSurrogate, MAX_KEY_LENGTH, type ClientFrame, type Json, type JoinLeaveFrame, type MessageFrame, type ServerFrame } from './frames.js';
import { isUtf8 } from 'node:buffer';
import { DEFAULT_MAX_DEPTH, exceedsDepth } from './depth.js';
import { holdsNonFiniteNumber } from './finite.js';

const id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional();
const channel = z.string().regex(CHANNEL_PATTERN);
const key = z.string().min(1).max(MAX_KEY_LENGTH).refine((k) => !hasLoneSurrogate(k), { message: 'holds a lone surrogate (\\ud800–\\udfff without its pair): not text, and not kept apart from other such keys by every broker' });
// `data` comes out of JSON.parse, so it is JSON by construction: re-checking it with z.json() walked
// every node recursively (2.4 ms for a 4.5 KB table, see benchmarks/hostile). Only presence is checked.
const jsonData = z.custom<Json>((v) => v !== undefined, { message: 'Invalid input: expected JSON data, received undefined' });

const clientFrameSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('subscribe'),
    id,
    channel,
    recover: z.object({ epoch: z.string().min(1).max(64), offset: z.number().int().min(0) }).optional(),
  }),
  z.object({ type: z.literal('unsubscribe'), id, channel }),
  z.object({
    type: z.literal('publish'), id, channel, data: jsonData,
    idempotencyKey: key.optional(),
    publisher: key.optional(),
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  }),
  z.object({ type: z.literal('ping'), id }),
  // as long as an upgrade can carry one (its URL and headers hold 16 KiB)
  z.object({ type: z.literal('refresh'), id, token: z.string().min(1).max(16_384) }),
  z.object({ type: z.literal('presence'), id, channel }),
]);

export type DecodeResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; id?: number };

const KNOWN_TYPES = new Set(['subscribe', 'unsubscribe', 'publish', 'ping', 'refresh', 'presence']);

/** Echoes a client's value in an error message without echoing kilobytes of it. */
function preview(value: unknown): string {
  const s = typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : typeof value === 'object' && value !== null ? (Array.isArray(value) ? 'an array' : 'an object') : String(value);
  return s;
}

/**
 * Decodes one inbound frame (text, or its UTF-8 bytes). Never throws: a bad frame yields a coded
 * error for the client. `maxDepth` bounds the nesting of the whole frame (its own object is level
 * 1) and is checked without recursion before anything recursive (schema check, re-encoding)
 * sees the value.
 */
export function decodeClientFrame(input: string | Uint8Array, maxDepth: number = DEFAULT_MAX_DEPTH): DecodeResult {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    if (!isUtf8(input)) return { ok: false, code: 'FG_ERR_BAD_FRAME', message: 'frame is not valid UTF-8' };
    text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  }
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
  // JSON.parse is iterative in V8, so a deep frame parses; everything after it may recurse
  if (exceedsDepth(text, maxDepth)) {
    return { ok: false, code: 'FG_ERR_BAD_FRAME', message: `frame nests deeper than maxDepth ${maxDepth} levels of arrays/objects (the frame itself is level 1)`, id: frameId };
  }
  if (typeof obj.type !== 'string' || !KNOWN_TYPES.has(obj.type)) {
    return { ok: false, code: 'FG_ERR_UNKNOWN_TYPE', message: `unknown frame type ${preview(obj.type)}; expected subscribe, unsubscribe, publish, ping, refresh or presence`, id: frameId };
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
  const frame = parsed.data as ClientFrame;
  if (frame.type === 'publish' && frame.seq !== undefined && frame.publisher === undefined) {
    return { ok: false, code: 'FG_ERR_BAD_FRAME', message: 'seq: needs `publisher` (the sequence is counted per publisher)', id: frameId };
  }
  if (frame.type === 'publish' && holdsNonFiniteNumber(text, frame.data)) {
    return { ok: false, code: 'FG_ERR_BAD_FRAME', message: 'data: a number is too large for a double (e.g. 1e400); it would reach subscribers as null', id: frameId };
  }
  return { ok: true, frame };
}

/** The top-level `id` of a frame, when it is JSON with a usable one; for answers to frames that are not decoded (rate limit). */
export function frameIdOf(text: string): number | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text); // iterative in V8: any depth is safe here
  } catch {
    return undefined;
  }
  if (raw === null || typeof raw !== 'object') return undefined;
  const id = (raw as { id?: unknown }).id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

export function encodeServerFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/** Builds a `message` frame's text once per publication; the gateway writes these bytes to every subscriber. */
export function encodeMessage(channelName: string, epoch: string, offset: number, data: Json): string {
  const frame: MessageFrame = { type: 'message', channel: channelName, epoch, offset, data };
  return JSON.stringify(frame);
}

/** Builds a `join` or `leave` frame's text once per event; the gateway writes these bytes to every subscriber. */
export function encodeJoinLeave(kind: 'join' | 'leave', channelName: string, client: string, sub: string | undefined): string {
  const frame: JoinLeaveFrame = sub === undefined ? { type: kind, channel: channelName, client } : { type: kind, channel: channelName, client, sub };
  return JSON.stringify(frame);
}
