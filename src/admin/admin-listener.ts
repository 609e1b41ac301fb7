import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FloodgateError } from '../errors.js';
import { newHttpRefusals, refusalForParserError, refuseOnSocket } from '../server/http-refusal.js';

export interface AdminListenerOptions {
  host: string;
  port: number;
  /** Bounds slow or silent HTTP clients, like the public listener's handshakeTimeout. */
  requestTimeout: number;
  /** Built by the caller when the admin listener speaks TLS (src/admin/tls.ts). */
  server?: Server;
}

/**
 * The operator's port: plain HTTP (or HTTPS), no WebSocket upgrades, no admission. Metrics
 * scrapers, the dashboard and backends calling the server API talk to this one, so none of it
 * competes with client connections for the public port's accept queue and connection cap.
 */
export class AdminListener {
  readonly server: Server;
  private address: { host: string; port: number } | undefined;

  /** Requests Node's parser refused here (the public port's are in /stats `http.refused`). */
  readonly refused = newHttpRefusals();

  constructor(private readonly options: AdminListenerOptions, handler: (req: IncomingMessage, res: ServerResponse) => void) {
    // the timeouts are checked on this interval (Node's default, 30 s, would double them)
    this.server = options.server ?? createServer({ connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(options.requestTimeout / 2))) });
    this.server.headersTimeout = options.requestTimeout;
    this.server.requestTimeout = options.requestTimeout;
    this.server.keepAliveTimeout = 5000;
    this.server.on('request', handler);
    // no upgrade listener: WebSocket clients belong on the public port; Node answers by closing
    // malformed, too long or too slow requests get the JSON refusals of the public port (docs/errors.md)
    this.server.on('clientError', (err: Error, socket) => {
      const refusal = refusalForParserError(err);
      if (refusal === undefined) socket.destroy();
      else refuseOnSocket(socket, refusal, this.refused);
    });
  }

  get host(): string {
    return this.address?.host ?? this.options.host;
  }

  get port(): number {
    return this.address?.port ?? 0;
  }

  listen(): Promise<void> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new FloodgateError('FG_ERR_LISTEN', `cannot listen on the admin address ${host}:${port}: ${err.message}`, { code: err.code }));
      };
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.removeListener('error', onError);
        const addr = this.server.address();
        this.address = { host, port: typeof addr === 'object' && addr ? addr.port : port };
        resolve();
      });
    });
  }

  /** Stops listening and ends every admin connection (dashboard event streams stay open otherwise). */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
