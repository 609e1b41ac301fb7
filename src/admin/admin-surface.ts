import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { ServerSettings } from '../config/server-settings.js';
import { FloodgateError } from '../errors.js';
import { sendJson } from '../server/send-json.js';
import type { TlsFiles } from '../server/tls.js';
import { AdminListener } from './admin-listener.js';
import { isAdminPath, isApiPath } from './admin-paths.js';
import type { ApiBackend } from './api-backend.js';
import { ServerApi } from './server-api.js';

export type Surface = 'public' | 'admin';

/** Settings the admin side reads (a subset of ServerSettings). */
export type AdminSettings = Pick<ServerSettings, 'port' | 'adminHost' | 'adminPort' | 'adminTls' | 'apiKey' | 'apiBodyLimit' | 'handshakeTimeout'>;

/** Cross-setting checks the per-setting table cannot express; run once at startup. */
export function checkAdminSettings(s: AdminSettings): void {
  if (s.adminPort !== 'off' && s.adminPort !== 0 && s.adminPort === s.port) {
    throw new FloodgateError(
      'FG_ERR_INVALID_CONFIG',
      `Invalid value for \`adminPort\` (--admin-port): expected a port other than \`port\` (${s.port}), \`off\` or 0, got \`${s.adminPort}\``,
    );
  }
  if (s.adminTls && s.adminPort === 'off') {
    throw new FloodgateError('FG_ERR_INVALID_CONFIG', 'Invalid value for `adminTls` (--admin-tls): it applies to the admin listener; set adminPort too (without it, admin paths are on the public port, which has TLS when tlsCert is set)');
  }
}

/**
 * The operator's side of one gateway process: which paths the public port still answers, the
 * optional admin listener, and the server API. The gateway asks `intercept()` before its own
 * routes; the admin listener hands every request back to the gateway's router with
 * surface `admin`, so /stats, /metrics and /dashboard are the same handlers on either port.
 */
export class AdminSurface {
  readonly separate: boolean;
  readonly api: ServerApi;
  private listener: AdminListener | undefined;

  constructor(
    private readonly settings: AdminSettings,
    backend: ApiBackend,
    private readonly route: (req: IncomingMessage, res: ServerResponse, surface: Surface) => void,
    private readonly tls?: TlsFiles,
  ) {
    checkAdminSettings(settings);
    if (settings.adminTls && !tls) {
      throw new FloodgateError('FG_ERR_INVALID_CONFIG', 'Invalid value for `adminTls` (--admin-tls): the admin listener uses the certificate of tlsCert/tlsKey; set them too');
    }
    this.separate = settings.adminPort !== 'off';
    this.api = new ServerApi({ apiKey: settings.apiKey, bodyLimit: settings.apiBodyLimit }, backend);
  }

  /** Swapped by `serve --workers`: disconnect and channels then cover every worker. */
  set backend(backend: ApiBackend) {
    this.api.backend = backend;
  }

  /** Where the admin side answers: its own listener, or the public one. */
  get address(): { host: string; port: number; tls: boolean } | undefined {
    return this.listener ? { host: this.listener.host, port: this.listener.port, tls: this.settings.adminTls } : undefined;
  }

  /** True when this request was answered here (API, or an admin path asked on the public port). */
  intercept(req: IncomingMessage, res: ServerResponse, path: string, surface: Surface): boolean {
    if (this.separate && surface === 'public' && isAdminPath(path)) {
      sendJson(res, 404, {
        code: 'FG_ERR_ADMIN_ONLY',
        message: `${path} is served on the admin listener (adminPort), not on the public port`,
      });
      return true;
    }
    if (isApiPath(path)) {
      this.api.handle(req, res, path);
      return true;
    }
    return false;
  }

  async start(): Promise<void> {
    if (!this.separate || this.listener) return;
    const s = this.settings;
    let server;
    if (s.adminTls && this.tls) {
      server = createHttpsServer({ ...this.tls.options });
      this.tls.attach(server);
    }
    this.listener = new AdminListener(
      { host: s.adminHost, port: s.adminPort as number, requestTimeout: Math.max(s.handshakeTimeout, 30_000), server },
      (req, res) => this.route(req, res, 'admin'),
    );
    await this.listener.listen();
  }

  async close(): Promise<void> {
    await this.listener?.close();
  }
}
