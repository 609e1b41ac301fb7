import type { ServerFrame } from './frames.js';

/**
 * Reads a server frame on the client side. Kept apart from codec.ts so that browser bundles of
 * the SDK do not pull in zod. Never throws: whatever arrives (a server bug, a proxy page, a
 * hostile endpoint) is either a frame whose fields have the types the SDK relies on, or a reason.
 * Frames of a type this version does not know pass through (newer servers may add some).
 */
export type ServerFrameResult = { ok: true; frame: ServerFrame } | { ok: false; reason: string };

/**
 * `nat`: a non-negative integer a double holds exactly (offsets, counts, ids). An offset of 2^64,
 * -3 or 1.5 is no sequence number: taken as one it would be delivered, and every real message
 * after it dropped as a "duplicate".
 */
type Check = 'string' | 'number' | 'boolean' | 'nat' | 'string?' | 'number?' | 'boolean?' | 'nat?' | 'any' | 'subs';

function isNat(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A presence answer's list: an array of {sub: string, connections: number}, checked without recursion. */
function isSubList(value: unknown): boolean {
  if (!Array.isArray(value)) return false;
  for (const e of value) {
    if (e === null || typeof e !== 'object' || typeof (e as { sub?: unknown }).sub !== 'string') return false;
    if (!isNat((e as { connections?: unknown }).connections)) return false;
  }
  return true;
}

const SHAPES: Record<string, Record<string, Check>> = {
  welcome: { node: 'string', session: 'string', pingInterval: 'number', maxPayload: 'number', rateBurst: 'number?', rateRefill: 'number?', exp: 'number?' },
  subscribed: { id: 'nat?', channel: 'string', epoch: 'string', offset: 'nat', recovered: 'boolean?', replayed: 'nat?', reason: 'string?' },
  message: { channel: 'string', epoch: 'string', offset: 'nat', data: 'any' },
  published: { id: 'nat?', channel: 'string', epoch: 'string', offset: 'nat' },
  unsubscribed: { id: 'nat?', channel: 'string', code: 'string?', message: 'string?' },
  pong: { id: 'nat?' },
  refreshed: { id: 'nat?', exp: 'number' },
  presence: { id: 'nat?', channel: 'string', connections: 'nat', users: 'nat', anonymous: 'nat', subs: 'subs', truncated: 'boolean' },
  join: { channel: 'string', client: 'string', sub: 'string?' },
  leave: { channel: 'string', client: 'string', sub: 'string?' },
  error: { id: 'nat?', code: 'string', message: 'string', channel: 'string?' },
};

const WHAT: Record<Check, string> = {
  string: 'a string', number: 'a number', boolean: 'a boolean', nat: 'an integer from 0 to 2^53 - 1', any: 'a JSON value',
  'string?': 'a string', 'number?': 'a number', 'boolean?': 'a boolean', 'nat?': 'an integer from 0 to 2^53 - 1', subs: 'a list of {sub, connections}',
};

function fits(value: unknown, check: Check): boolean {
  switch (check) {
    case 'any':
      return value !== undefined;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'number?':
      return value === undefined || (typeof value === 'number' && Number.isFinite(value));
    case 'string':
    case 'boolean':
      return typeof value === check;
    case 'string?':
      return value === undefined || typeof value === 'string';
    case 'boolean?':
      return value === undefined || typeof value === 'boolean';
    case 'nat':
      return isNat(value);
    case 'nat?':
      return value === undefined || isNat(value);
    case 'subs':
      return isSubList(value);
  }
}

export function readServerFrame(text: string): ServerFrameResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text); // iterative in V8: deep nesting parses, and nothing below recurses
  } catch {
    return { ok: false, reason: 'the server sent a frame that is not JSON' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'the server sent a frame that is not a JSON object' };
  const f = raw as Record<string, unknown>;
  if (typeof f.type !== 'string') return { ok: false, reason: 'the server sent a frame without a string `type`' };
  const shape = Object.prototype.hasOwnProperty.call(SHAPES, f.type) ? SHAPES[f.type] : undefined;
  if (shape !== undefined) {
    for (const key in shape) {
      if (!fits(f[key], shape[key])) return { ok: false, reason: `the server sent a \`${f.type}\` frame whose \`${key}\` is not ${WHAT[shape[key]]}${typeof f[key] === 'number' ? ` (${String(f[key])})` : ''}` };
    }
  }
  return { ok: true, frame: raw as ServerFrame };
}
