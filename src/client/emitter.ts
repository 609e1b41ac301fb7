/**
 * A small typed event emitter that runs in browsers and Node (no `node:events`). Unlike Node's
 * EventEmitter, an `error` event without listeners is not thrown: the SDK reports runtime
 * failures as events and must never crash an application that did not listen.
 */
import { FloodgateError } from '../errors.js';

export type Listener<T> = (event: T) => void;

export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  private listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = {};

  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    // a programmer error throws here, not later from inside the socket's message handler
    if (typeof listener !== 'function') {
      throw new FloodgateError('FG_ERR_INVALID_CONFIG', `Expected the listener of \`${String(name)}\` to be a function, got ${listener === null ? 'null' : typeof listener}`, { field: 'listener' });
    }
    (this.listeners[name] ??= []).push(listener);
    return this;
  }

  once<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    const wrapped: Listener<Events[K]> = (event) => {
      this.off(name, wrapped);
      listener(event);
    };
    return this.on(name, wrapped);
  }

  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    const list = this.listeners[name];
    if (list === undefined) return this;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) delete this.listeners[name];
    return this;
  }

  removeAllListeners(): void {
    this.listeners = {};
  }

  listenerCount<K extends keyof Events>(name: K): number {
    return this.listeners[name]?.length ?? 0;
  }

  /** Calls each listener; a listener that throws does not stop the others or the SDK. */
  protected emit<K extends keyof Events>(name: K, event: Events[K]): void {
    const list = this.listeners[name];
    if (list === undefined) return;
    for (const listener of list.length === 1 ? list : list.slice()) {
      try {
        listener(event);
      } catch (err) {
        // Rethrow outside our call stack so the app sees it, without breaking SDK state.
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
}
