import type { WebSocketLike } from './options.js';

/** What the HTTP answer to a refused upgrade said (only the `ws` transport can see it). */
export interface RefusedUpgrade {
  status: number;
  /** Seconds, from the Retry-After header. */
  retryAfter?: number;
  /** `code` from the JSON body, e.g. FG_ERR_OVER_CAPACITY. */
  code?: string;
  message?: string;
}

export interface TransportHandlers {
  open(): void;
  message(text: string): void;
  /** A binary frame: the protocol has none, so it is reported, never read. */
  binary(): void;
  /** The upgrade was answered with an HTTP status instead of 101. `close` follows. */
  refused(info: RefusedUpgrade): void;
  /** Inbound activity that is not a frame (a WebSocket ping from the server). */
  activity(): void;
  /** Called exactly once, whatever happened; after it the transport holds no socket. */
  close(code: number, reason: string, error?: Error): void;
}

/** One WebSocket. `terminate()` destroys it at once; `close()` is the polite close handshake. */
export interface Transport {
  send(text: string): void;
  close(code: number, reason: string): void;
  terminate(): void;
}

export type TransportFactory = (url: string, handlers: TransportHandlers) => Transport;

/** A transport over a WHATWG WebSocket (browsers, Node's global WebSocket). */
export function nativeTransport(Ctor: WebSocketLike): TransportFactory {
  return (url, h) => {
    const ws = new Ctor(url);
    let done = false;
    let lastError: Error | undefined;
    const finish = (code: number, reason: string) => {
      if (done) return;
      done = true;
      // Drop our handlers so the socket object holds no reference back into the client.
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      h.close(code, reason, lastError);
    };
    ws.onopen = () => h.open();
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') h.message(ev.data);
      else h.binary();
    };
    ws.onerror = () => {
      lastError = new Error('WebSocket error');
    };
    ws.onclose = (ev) => finish(ev.code, ev.reason);
    return {
      send: (text) => ws.send(text),
      close: (code, reason) => {
        try {
          ws.close(code, reason);
        } catch {
          ws.close();
        }
      },
      // Browsers cannot destroy a socket: close() aborts a pending handshake and starts the
      // close handshake of an open one; we stop listening at once, the browser reclaims it.
      terminate: () => {
        try {
          ws.close();
        } catch {
          /* already closing */
        }
        finish(1006, 'terminated');
      },
    };
  };
}
