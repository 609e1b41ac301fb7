import type { ServerFrame } from './frames.js';

/**
 * Decodes a server frame on the client side. Kept apart from codec.ts so that browser bundles of
 * the SDK do not pull in zod. Throws on malformed input (a server bug).
 */
export function decodeServerFrame(text: string): ServerFrame {
  const frame = JSON.parse(text) as ServerFrame;
  if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string') {
    throw new Error('server frame without a type');
  }
  return frame;
}
