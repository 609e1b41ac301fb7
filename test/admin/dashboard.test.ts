import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { createGateway, type Gateway } from '../../src/server/gateway.js';
import { dashboardOf, dashboardScope } from '../../src/admin/dashboard.js';
import { dashboardEnabled, describeDashboard, isLoopbackHost, tokenMatches } from '../../src/admin/dashboard-access.js';
import { WORKER_PLAN_ENV } from '../../src/server/worker-plan.js';
import { formatStartupReport } from '../../src/admin/startup-report.js';
import { openPeer, presence, subscribe } from '../helpers/ws-peer.js';

const quiet = { port: 0, logLevel: 'silent' as const };

interface Reply { status: number; type: string; body: string }

function fetchText(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

/** Opens the event stream and collects events until `until` says stop; returns them and the response. */
function watch(port: number, path: string): { events: { event: string; data: any }[]; res: Promise<IncomingMessage>; stop(): void; next(n: number): Promise<void> } {
  const events: { event: string; data: any }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let response: IncomingMessage | undefined;
  const req = get({ host: '127.0.0.1', port, path, agent: false });
  const res = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', (r) => {
      response = r;
      resolve(r);
      let buf = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) events.push({ event, data: JSON.parse(data) });
          for (const w of waiters.splice(0)) if (events.length >= w.n) w.resolve(); else waiters.push(w);
        }
      });
    });
    req.on('error', reject);
  });
  return {
    events, res,
    stop: () => { response?.destroy(); req.destroy(); },
    next: (n) => new Promise<void>((resolve) => (events.length >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('isLoopbackHost and dashboardEnabled: `::` and 0.0.0.0 are not loopback; auto needs loopback or a token', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['::', '0.0.0.0', '10.0.0.1', 'example.com', '']) assert.equal(isLoopbackHost(h), false, h);
  assert.equal(dashboardEnabled('auto', '::', ''), false);
  assert.equal(dashboardEnabled('auto', '::', 't'), true);
  assert.equal(dashboardEnabled('auto', '127.0.0.1', ''), true);
  assert.equal(dashboardEnabled('off', '127.0.0.1', 't'), false);
  assert.equal(dashboardEnabled('on', '0.0.0.0', ''), true);
  assert.equal(tokenMatches('abc', 'abc'), true);
  assert.equal(tokenMatches('abc', 'abcd'), false);
  assert.equal(tokenMatches('abc', undefined), false);
});

test('dashboardScope names the node, and with --workers says the page is machine-wide', () => {
  assert.equal(dashboardScope('h:1', {}), 'Shows this process (node h:1). Several nodes each have their own page.');
  const env = { [WORKER_PLAN_ENV]: JSON.stringify({ index: 1, count: 4 }) };
  assert.match(dashboardScope('h:2', env), /^Machine-wide: the 4 workers summed \(GET \/stats\/machine\), one row per worker below; served by worker 2 \(node h:2\)/);
});

test('loopback bind: self-contained page, SSE stream, a bounded ring of samples a new tab starts from', async () => {
  const g = await createGateway({ ...quiet, host: '127.0.0.1', maxConnections: 7 });
  let a: ReturnType<typeof watch> | undefined;
  let b: ReturnType<typeof watch> | undefined;
  try {
    const feed = dashboardOf(g)!.feed!;
    // samples are kept from the start, so a tab opened later shows the minutes before it
    assert.equal(feed.ticking, true, 'sampling runs before anyone watches');
    await until(() => feed.ticks >= 2, 'samples before any watcher');

    const page = await fetchText(g.port, '/dashboard');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /uPlot/);
    assert.doesNotMatch(page.body, /<script[^>]+src=|<link[^>]+href=/, 'no external scripts or stylesheets');

    a = watch(g.port, '/dashboard/events');
    const res = await a.res;
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    await a.next(2);
    assert.equal(a.events[0].event, 'intro');
    assert.equal(a.events[0].data.node, g.node);
    assert.match(a.events[0].data.settingsText, /listen backlog/);
    assert.equal(a.events[0].data.report.backlog.effective, g.backlogEffective);
    assert.equal(a.events[1].event, 'history');
    assert.ok(a.events[1].data.length >= 3, `the ring holds the samples taken before the tab opened (${a.events[1].data.length})`);
    assert.equal(a.events[1].data[0].connections.cap, 7);
    assert.equal(a.events[1].data[0].connections.capOrigin, 'explicit');
    assert.equal(feed.ticking, true);

    b = watch(g.port, '/dashboard/events');
    await Promise.all([a.next(3), b.next(3)]);
    await until(() => a!.events.length >= 4 && b!.events.length >= 3, 'ticks');
    // one snapshot per tick, the same for every watcher
    const ta = a.events.filter((e) => e.event === 'message').map((e) => e.data.t);
    const tb = b.events.filter((e) => e.event === 'message').map((e) => e.data.t);
    assert.ok(tb.some((t) => ta.includes(t)), 'watchers share the tick samples');
    const ticks = feed.ticks;
    assert.equal(feed.watching, 2);

    a.stop();
    b.stop();
    await until(() => feed.watching === 0, 'watchers gone');
    // the ring keeps filling for the next tab, and stays bounded
    await until(() => feed.ticks > ticks, 'sampling goes on without watchers');

    const other = await fetchText(g.port, '/dashboard/nope');
    assert.equal(other.status, 404);
  } finally {
    a?.stop();
    b?.stop();
    await g.close();
  }
});

test('token: 403 with a coded body without it or with a wrong one; ?token= and the header open it', async () => {
  const g = await createGateway({ ...quiet, host: '127.0.0.1', dashboardToken: 's3cret' });
  try {
    for (const [path, headers] of [['/dashboard', {}], ['/dashboard?token=nope', {}], ['/dashboard/events', {}], ['/dashboard', { 'x-floodgate-token': 'x' }]] as const) {
      const r = await fetchText(g.port, path, headers);
      assert.equal(r.status, 403, path);
      assert.equal(JSON.parse(r.body).code, 'FG_ERR_DASHBOARD_TOKEN');
    }
    assert.equal((await fetchText(g.port, '/dashboard?token=s3cret')).status, 200);
    assert.equal((await fetchText(g.port, '/dashboard', { 'x-floodgate-token': 's3cret' })).status, 200);
    assert.equal((await fetchText(g.port, '/dashboard', { authorization: 'Bearer s3cret' })).status, 200);
    const w = watch(g.port, '/dashboard/events?token=s3cret');
    await w.next(1);
    assert.equal(w.events[0].event, 'intro');
    w.stop();
  } finally {
    await g.close();
  }
});

test('non-loopback bind: off (404 FG_ERR_DASHBOARD_OFF) unless a token is set; `off` turns it off on loopback', async () => {
  const open = await createGateway({ ...quiet, host: '0.0.0.0' });
  const withToken = await createGateway({ ...quiet, host: '0.0.0.0', dashboardToken: 'tok' });
  const off = await createGateway({ ...quiet, host: '127.0.0.1', dashboard: 'off' });
  try {
    for (const g of [open, off]) {
      for (const path of ['/dashboard', '/dashboard/events', '/dashboard?token=tok']) {
        const r = await fetchText(g.port, path);
        assert.equal(r.status, 404, path);
        assert.equal(JSON.parse(r.body).code, 'FG_ERR_DASHBOARD_OFF');
      }
      assert.equal(dashboardOf(g)!.feed, undefined, 'nothing is set up when off');
    }
    // the 404 names the real cause
    assert.match(JSON.parse((await fetchText(off.port, '/dashboard')).body).message, /^the dashboard is off: the dashboard setting is `off` \(--dashboard off/);
    assert.match(JSON.parse((await fetchText(open.port, '/dashboard')).body).message, /^the dashboard is off: the gateway listens on 0\.0\.0\.0 \(every interface\) and no dashboardToken is set/);
    // GET / stays a 426 for WebSocket clients and says where things are
    const root = await fetchText(open.port, '/');
    assert.equal(root.status, 426);
    const body = JSON.parse(root.body);
    assert.equal(body.code, 'FG_ERR_UPGRADE_REQUIRED');
    assert.match(body.message, /Also served here: \/healthz, \/stats, \/stats\/machine, \/metrics; dashboard off: the gateway listens on 0\.0\.0\.0/);
    assert.match(JSON.parse((await fetchText(withToken.port, '/')).body).message, /dashboard at \/dashboard\.$/);
    // and the startup block prints the URL, or why the dashboard is off and how to turn it on
    assert.equal(withToken.startupReport().dashboard.url, `http://localhost:${withToken.port}/dashboard (add ?token=<dashboardToken>)`);
    assert.match(formatStartupReport(open.startupReport()), /\n  dashboard +off: the gateway listens on 0\.0\.0\.0 .* turn it on with --dashboard-token <secret>, or --host 127\.0\.0\.1/);
    assert.equal((await fetchText(withToken.port, '/dashboard')).status, 403);
    assert.equal((await fetchText(withToken.port, '/dashboard?token=tok')).status, 200);
  } finally {
    await Promise.all([open.close(), withToken.close(), off.close()]);
  }
});

test('describeDashboard: the URL to open, or the real reason it is off', () => {
  assert.deepEqual(describeDashboard({ dashboard: 'auto', host: '127.0.0.1', dashboardToken: '' }, 8080),
    { enabled: true, url: 'http://127.0.0.1:8080/dashboard', note: 'on (127.0.0.1 is a loopback address)' });
  assert.equal(describeDashboard({ dashboard: 'on', host: '::1', dashboardToken: '' }, 9).url, 'http://[::1]:9/dashboard');
  assert.equal(describeDashboard({ dashboard: 'off', host: '127.0.0.1', dashboardToken: 'x' }, 9).enabled, false);
  assert.match(describeDashboard({ dashboard: 'auto', host: '::', dashboardToken: '' }, 9).note, /^off: the gateway listens on :: \(every interface\)/);
});

test('the ring of samples is bounded and sampling stops when the gateway shuts down', async () => {
  const { DashboardFeed } = await import('../../src/admin/dashboard-feed.js');
  const g = await createGateway({ ...quiet, host: '127.0.0.1' });
  let alive = true;
  const feed = new DashboardFeed({ stats: () => g.stats(), intro: () => ({}), historyLength: 3, alive: () => alive });
  try {
    await until(() => feed.ticks >= 3, 'three ticks', 20_000);
    assert.equal((feed as unknown as { history: unknown[] }).history.length, 3);
    alive = false;
    await until(() => !feed.ticking, 'stopped after shutdown');
  } finally {
    feed.close();
    await g.close();
  }
});

test('machine-wide samples (--workers): sums, the machine cap even with a worker missing, a row per worker', async () => {
  const { machineAsStats } = await import('../../src/admin/dashboard-feed.js');
  const { aggregateStats } = await import('../../src/admin/machine-stats.js');
  const g = await createGateway({ ...quiet, host: '127.0.0.1', maxConnections: 500 });
  try {
    const local = g.stats();
    const m = aggregateStats([{ index: 0, stats: local }], 2);
    const st = machineAsStats(m, local);
    assert.equal(st.node, '1 of 2 workers');
    assert.equal(st.connections.cap, 1000, 'two shares of 500, though worker 2 did not answer');
    assert.equal(st.memory.limit, local.memory.limit * 2);
    assert.deepEqual(m.workers.missing, [1]);
    assert.equal(m.perWorker.length, 1);
  } finally {
    await g.close();
  }
});

test('presence on the dashboard: entries held, asks per second and in total, and where presence is on', { timeout: 60_000 }, async () => {
  const g = await createGateway({ ...quiet, host: '127.0.0.1', presence: true, joinLeave: true });
  let w: ReturnType<typeof watch> | undefined;
  const peer = await openPeer(`ws://127.0.0.1:${g.port}/`);
  try {
    const page = await fetchText(g.port, '/dashboard');
    assert.match(page.body, /id="v-presence"/);
    await subscribe(peer, 'room', 1);
    assert.equal((await presence(peer, 'room')).connections, 1);
    w = watch(g.port, '/dashboard/events');
    await w.next(1);
    assert.equal(w.events[0].data.report.presence.text, 'on for every channel; join/leave on for every channel; answers list up to 1000 subs');
    assert.match(w.events[0].data.settingsText, /\n  presence +on for every channel; join\/leave on/);
    // the next tick's sample carries the entry and the ask (counters are read once per tick)
    await until(() => w!.events.some((e) => e.event === 'message' && e.data.presenceEntries === 1 && e.data.totals.presenceRequests === 1), 'a sample with the entry and the ask', 30_000);
    const s = w.events.find((e) => e.event === 'message' && e.data.presenceEntries === 1)!.data;
    assert.equal(s.totals.presenceFailures, 0);
    peer.close();
    await until(() => w!.events.some((e) => e.event === 'message' && e.data.presenceEntries === 0), 'the entry gone after the close', 30_000);
  } finally {
    peer.close();
    w?.stop();
    await g.close();
  }
});
