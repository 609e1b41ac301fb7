import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayView, RouteHandler } from '../server/gateway-view.js';
import { dashboardEnabled, dashboardTokenFrom, describeDashboard, tokenMatches } from './dashboard-access.js';
import { DashboardFeed } from './dashboard-feed.js';
import { DASHBOARD_CSP, loadChartAssets, renderDashboardPage } from './dashboard-page.js';
import { formatStartupReport, type StartupReport } from './startup-report.js';
import { readWorkerPlan } from '../server/worker-plan.js';
import { sendJson } from '../server/send-json.js';

export interface Dashboard {
  enabled: boolean;
  /** Undefined when the dashboard is off: nothing is loaded and no timer can run. */
  feed: DashboardFeed | undefined;
}

const installed = new WeakMap<GatewayView, Dashboard>();

/** The dashboard a gateway installed (tests and benchmarks look at its feed). */
export function dashboardOf(gateway: GatewayView): Dashboard | undefined {
  return installed.get(gateway);
}

/** What the page says about which processes it shows: this one, or (with --workers) the machine. */
export function dashboardScope(node: string, env: NodeJS.ProcessEnv = process.env): string {
  const plan = readWorkerPlan(env);
  if (plan && plan.count > 1) {
    return `Machine-wide: the ${plan.count} workers summed (GET /stats/machine), one row per worker below; served by worker ${plan.index + 1} (node ${node}).`;
  }
  return `Shows this process (node ${node}). Several nodes each have their own page.`;
}

/**
 * Adds GET /dashboard (the page) and GET /dashboard/events (Server-Sent Events) through `route`.
 * When the dashboard is off both answer 404 FG_ERR_DASHBOARD_OFF and nothing else is set up.
 */
export function installDashboard(
  gateway: GatewayView,
  startupReport: () => StartupReport,
  route: (path: string, handler: RouteHandler) => void,
): Dashboard {
  const s = gateway.settings;
  // with an admin listener the page lives there: its address decides whether it is loopback-only
  const host = s.adminPort === 'off' ? s.host : s.adminHost;
  const enabled = dashboardEnabled(s.dashboard, host, s.dashboardToken);
  const dashboard: Dashboard = { enabled, feed: undefined };
  installed.set(gateway, dashboard);

  const allowed = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (!enabled) {
      // the real cause: `--dashboard off`, or a non-loopback host without a token (docs/dashboard.md)
      sendJson(res, 404, { code: 'FG_ERR_DASHBOARD_OFF', message: `the dashboard is ${describeDashboard(s, gateway.port).note}` });
      return false;
    }
    if (s.dashboardToken !== '' && !tokenMatches(s.dashboardToken, dashboardTokenFrom(req))) {
      sendJson(res, 403, { code: 'FG_ERR_DASHBOARD_TOKEN', message: 'the dashboard needs its token: add ?token=… or the header x-floodgate-token' });
      return false;
    }
    return true;
  };

  let page: Buffer | undefined;
  if (enabled) {
    page = Buffer.from(renderDashboardPage(loadChartAssets()));
    dashboard.feed = new DashboardFeed({
      stats: () => gateway.stats(),
      alive: () => !gateway.shuttingDown,
      intro: () => ({
        node: gateway.node,
        pid: process.pid,
        scope: dashboardScope(gateway.node),
        settingsText: formatStartupReport(startupReport()),
        report: startupReport(),
      }),
    });
  }

  const servePage = (req: IncomingMessage, res: ServerResponse): void => {
    if (!allowed(req, res)) return;
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': page!.length,
      'cache-control': 'no-store',
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer', // the token may be in the URL
    });
    res.end(req.method === 'HEAD' ? undefined : page);
  };
  route('/dashboard', servePage);
  route('/dashboard/', servePage);
  route('/dashboard/events', (req, res) => {
    if (!allowed(req, res)) return;
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end();
      return;
    }
    dashboard.feed!.attach(res);
  });
  return dashboard;
}
