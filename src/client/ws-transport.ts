import type { IncomingMessage } from 'node:http';
import type { WebSocket as WsSocket } from 'ws';
import { parseRetryAfter } from './backoff.js';
import type { RefusedUpgrade, TransportFactory } from './transport.js';
import type { ClientTlsOptions } from './options.js';

type WsModule = { WebSocket: typeof WsSocket };

const BODY_LIMIT = 2048;
/** Bytes of unsent pongs (and anything else) past which a pinging server that does not read is left. */
const PONG_BACKLOG = 1024 * 1024;

/**
 * Loads the `ws` package only when it is needed: the specifier is not a literal, so bundlers
 * (esbuild `platform: 'browser'`) leave it out of browser bundles.
 */
export async function loadWs(): Promise<WsModule | undefined> {
  const specifier = 'ws';
  try {
    const mod = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as Partial<WsModule> & { default?: Partial<WsModule> };
    const Ctor = mod.WebSocket ?? mod.default?.WebSocket;
    return Ctor ? { WebSocket: Ctor } : undefined;
  } catch {
    return undefined;
  }
}

/** A transport over the `ws` package: sees refused upgrades (status, Retry-After) and can destroy sockets. */
export function wsTransport(mod: WsModule, tls: ClientTlsOptions = {}, maxMessageBytes?: number): TransportFactory {
  return (url, h) => {
    // maxPayload: ws refuses a larger message from its header, before buffering any of it
    // autoPong off: ws answers every ping at once and ends the connection (a bare 1006) once 60
    // answers are pending, which one read of a ping flood reaches; pongs are sent here instead
    const ws = new mod.WebSocket(url, { perMessageDeflate: false, followRedirects: false, autoPong: false, ...(maxMessageBytes === undefined ? {} : { maxPayload: maxMessageBytes }), ...tls });
    let refused: RefusedUpgrade | undefined;
    let lastError: Error | undefined;
    ws.on('open', () => h.open());
    ws.on('message', (data, isBinary) => {
      if (!isBinary) h.message(data.toString());
      else h.binary();
    });
    // One pong per event-loop turn, for the latest ping (RFC 6455 §5.5.3 allows it). A server
    // that floods pings and does not read the pongs is left once PONG_BACKLOG bytes wait unsent.
    let pingData: Buffer | undefined;
    ws.on('ping', (data: Buffer) => {
      h.activity();
      const scheduled = pingData !== undefined;
      pingData = data;
      if (scheduled) return;
      setImmediate(() => {
        const d = pingData;
        pingData = undefined;
        if (d === undefined || ws.readyState !== ws.OPEN) return;
        if (ws.bufferedAmount > PONG_BACKLOG) {
          lastError = Object.assign(new Error(`the server sent pings faster than it read the pongs (${ws.bufferedAmount} bytes unsent)`), { code: 'WS_ERR_PING_FLOOD' });
          ws.terminate();
          return;
        }
        ws.pong(d);
      });
    });
    ws.on('pong', () => h.activity());
    ws.on('error', (err) => {
      lastError = err;
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      // Read a short JSON body for the code, then destroy the request and its socket.
      const info: RefusedUpgrade = { status: res.statusCode ?? 0 };
      const ra = parseRetryAfter(res.headers['retry-after']);
      if (ra !== undefined) info.retryAfter = ra;
      let body = '';
      const finish = () => {
        if (refused !== undefined) return;
        try {
          const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
          if (typeof parsed.code === 'string') info.code = parsed.code;
          if (typeof parsed.message === 'string') info.message = parsed.message;
        } catch {
          /* not JSON: the status is enough */
        }
        refused = info;
        h.refused(info);
        ws.terminate();
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > BODY_LIMIT) finish();
      });
      res.on('end', finish);
      res.on('error', finish);
    });
    ws.once('close', (code, reason) => {
      ws.removeAllListeners();
      // A late 'error' after close must not become an unhandled EventEmitter error.
      ws.on('error', () => {});
      h.close(code, reason.toString(), lastError);
    });
    return {
      send: (text) => ws.send(text),
      close: (code, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
    };
  };
}
