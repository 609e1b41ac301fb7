import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Registry } from 'prom-client';
import type { ServerSettings } from '../config/server-settings.js';
import { FloodgateError } from '../errors.js';
import type { GatewayView, RouteHandler } from '../server/gateway-view.js';
import { sendJson } from '../server/send-json.js';
import { ADMIN_PATHS, adminDenied, effectiveAdminAccess, type EffectiveAdminAccess } from './admin-access.js';
import { AdminListener } from './admin-listener.js';
import { isAdminPath, isApiPath } from './admin-paths.js';
import type { ApiBackend } from './api-backend.js';
import { describeDashboard, type DashboardStatus } from './dashboard-access.js';
import { installDashboard, type Dashboard } from './dashboard.js';
import { machineBackend, machineStats, runLocal, type AskWorkers, type MachineCallOp } from './machine-calls.js';
import { aggregateStats } from './machine-stats.js';
import type { AdminStats } from './admin-stats.js';
import { createMetrics } from './metrics.js';
import { ServerApi } from './server-api.js';
import { buildStartupReport, type StartupReport } from './startup-report.js';

export type { StartupReport } from './startup-report.js';
export type { EffectiveAdminAccess } from './admin-access.js';

export type Surface = 'public' | 'admin';

/** Settings the admin side reads (a subset of ServerSettings). */
export type AdminSettings = Pick<ServerSettings, 'port' | 'adminHost' | 'adminPort' | 'adminTls' | 'adminAccess' | 'dashboardToken' | 'apiKey' | 'apiBodyLimit' | 'handshakeTimeout'>;

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
  if (s.adminAccess === 'token' && s.dashboardToken === '') {
    throw new FloodgateError('FG_ERR_INVALID_CONFIG', 'Invalid value for `adminAccess`: `token` needs `dashboardToken` (--dashboard-token) to be set');
  }
}

/** The server API's backend on one process: its own sessions, publishing through the broker. */
function localBackend(view: GatewayView): ApiBackend {
  return {
    broker: view.broker,
    disconnect: async (sub) => ({ closed: view.disconnectUser(sub) }),
    channels: async () => view.channelList(),
    presence: (channel) => view.presenceOf(channel),
  };
}

/**
 * The operator's side of one gateway process: /stats, /stats/machine, /metrics, the dashboard,
 * the server API, which paths the public port still answers, and the optional admin listener.
 * It reads the gateway through GatewayView only. The gateway asks `intercept()` before its own
 * routes and `handlerFor()` / `denied()` beside them; the admin listener hands every request
 * back to the gateway's router with surface `admin`, so both ports share one set of handlers
 * and one set of HTTP refusals.
 */
export class AdminSurface {
  readonly separate: boolean;
  readonly api: ServerApi;
  /** Who may read /stats, /stats/machine, /metrics and /dashboard (adminAccess resolved). */
  readonly access: EffectiveAdminAccess;
  readonly dashboard: Dashboard;
  private readonly settings: AdminSettings;
  private readonly routes = new Map<string, RouteHandler>();
  private metricsRegistry: Registry | undefined;
  private listener: AdminListener | undefined;

  constructor(
    private readonly view: GatewayView,
    private readonly route: (req: IncomingMessage, res: ServerResponse, surface: Surface) => void,
  ) {
    const settings = view.settings;
    this.settings = settings;
    checkAdminSettings(settings);
    if (settings.adminTls && !view.tls) {
      throw new FloodgateError('FG_ERR_INVALID_CONFIG', 'Invalid value for `adminTls` (--admin-tls): the admin listener uses the certificate of tlsCert/tlsKey; set them too');
    }
    this.separate = settings.adminPort !== 'off';
    this.access = effectiveAdminAccess(settings.adminAccess, settings.dashboardToken);
    this.api = new ServerApi({ apiKey: settings.apiKey, bodyLimit: settings.apiBodyLimit, maxDepth: settings.maxDepth }, localBackend(view));

    this.routes.set('/stats', (_req, res) => sendJson(res, 200, this.stats()));
    // one process: the machine is this process (`serve --workers` swaps in useMachineStats)
    this.routes.set('/stats/machine', (_req, res) => sendJson(res, 200, aggregateStats([{ index: 0, stats: this.stats() }], 1)));
    this.routes.set('/metrics', (_req, res) => {
      this.metricsRegistry ??= createMetrics(() => this.stats());
      this.metricsRegistry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.metricsRegistry!.contentType });
          res.end(text);
        },
        (err: Error) => sendJson(res, 500, { code: 'FG_ERR_INTERNAL', message: err.message }),
      );
    });
    this.dashboard = installDashboard(view, () => this.startupReport(), (path, handler) => this.routes.set(path, handler));
  }

  /** The gateway's snapshot with the server API's counters: what GET /stats answers. */
  stats(): AdminStats {
    return { ...this.view.stats(), api: this.api.stats() };
  }

  /**
   * `serve --workers`: /stats/machine, the dashboard, and the server API's disconnect and channel
   * list cover every worker, asked through the primary whichever worker takes the request.
   */
  useMachine(ask: AskWorkers): void {
    const source = () => machineStats(ask);
    this.api.backend = machineBackend(ask, this.view.broker, (channel) => this.view.presenceOf(channel));
    // the dashboard of every worker shows the machine, with a row per worker
    this.dashboard.feed?.useMachineStats(source);
    this.routes.set('/stats/machine', (_req, res) => {
      source().then(
        (machine) => sendJson(res, 200, machine),
        (err: Error) => sendJson(res, 503, { code: 'FG_ERR_STATS_UNAVAILABLE', message: err.message }),
      );
    });
  }

  /** What this worker answers when the primary runs a machine-wide call on it. */
  runLocal(call: MachineCallOp): unknown {
    const view = this.view;
    return runLocal({ stats: () => this.stats(), disconnect: (sub) => view.disconnectUser(sub), channels: () => view.channelList() }, call);
  }

  /** Where the admin side answers: its own listener, or the public one. */
  get address(): { host: string; port: number; tls: boolean } | undefined {
    return this.listener ? { host: this.listener.host, port: this.listener.port, tls: this.settings.adminTls } : undefined;
  }

  /** The effective settings at start, with the admin side's own facts. */
  startupReport(): StartupReport {
    return buildStartupReport(this.view, { address: this.address, access: this.access });
  }

  /** Where the dashboard is, or why it is off (for the public port's `GET /` answer). */
  dashboardStatus(): DashboardStatus {
    return describeDashboard(this.view.settings, this.view.port);
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

  /** The GET/HEAD handler of an operator path (/stats, /metrics, /dashboard…), if it is one. */
  handlerFor(path: string): RouteHandler | undefined {
    return this.routes.get(path);
  }

  /** Why `req` may not read `path` under adminAccess, or undefined when it may. */
  denied(path: string, req: IncomingMessage): string | undefined {
    // the dashboard checks the same token itself (answering FG_ERR_DASHBOARD_TOKEN)
    if (!ADMIN_PATHS.has(path) || (this.access === 'token' && path.startsWith('/dashboard'))) return undefined;
    return adminDenied(this.access, this.settings.dashboardToken, req);
  }

  async start(): Promise<void> {
    if (!this.separate || this.listener) return;
    const s = this.settings;
    const tls = this.view.tls;
    let server;
    if (s.adminTls && tls) {
      server = createHttpsServer({ ...tls.options });
      tls.attach(server);
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
