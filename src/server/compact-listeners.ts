import type { EventEmitter } from 'node:events';

/**
 * Node keeps an emitter's listeners in `_events`, created as `{ __proto__: null }`, which V8
 * holds in dictionary mode: a hash table of ~250 bytes even for four listeners. A gateway keeps
 * three such emitters per idle connection (the WebSocket, its frame Receiver and the TCP socket)
 * for as long as the connection lives. Once their long-lived listeners are attached, the table
 * is replaced by a fast-mode copy with the same entries (~50 bytes, and one shape shared by every
 * connection). EventEmitter reads `_events` afresh on every call, so on/emit/remove behave as
 * before; a later removal simply turns that one table back into a dictionary.
 */
export function compactListeners(emitter: EventEmitter | undefined | null): void {
  const e = emitter as unknown as { _events?: Record<string | symbol, unknown> } | undefined | null;
  const events = e?._events;
  if (e == null || events === undefined || events === null || typeof events !== 'object') return;
  const fast: Record<string | symbol, unknown> = {};
  for (const k of Reflect.ownKeys(events)) fast[k] = events[k];
  Object.setPrototypeOf(fast, null); // keeps the fast shape (a null-prototype literal would not)
  e._events = fast;
}
