import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import WebSocket from 'ws';
import { createGateway } from '../../src/server/gateway.js';
import { dashboardOf } from '../../src/admin/dashboard.js';
import { openPeer, presence, subscribe, type Peer } from '../helpers/ws-peer.js';
import { launchChromium, noChromium, pageWithErrors } from '../helpers/chromium.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CAP = 4;
const REJECTED = 6;

/** Opens a WebSocket; resolves with it once welcomed, or with the HTTP status of a refused upgrade. */
function connect(port: number): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.once('message', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode });
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

/**
 * The dashboard in real Chromium: a client script fills the cap, gets 503s past it, floods a
 * channel past its rate limit and asks for a replay; the numbers and the charts on the page
 * follow, and the page's stream stops the gateway's timer when the browser goes away.
 */
test('dashboard in Chromium: numbers and charts follow connections, 503s and messages', { skip: noChromium }, async () => {
  const g = await createGateway({
    host: '127.0.0.1', port: 0, logLevel: 'silent', maxConnections: CAP, admissionTimeout: 0,
    rateBurst: 5, rateRefill: 1, rateLimitClose: 0,
  });
  const feed = dashboardOf(g)!.feed!;
  const clients: WebSocket[] = [];
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const { page, pageErrors } = await pageWithErrors(browser, { viewport: { width: 1280, height: 1000 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`http://127.0.0.1:${g.port}/dashboard`);

    await page.waitForFunction(() => (window as any).floodgateDashboard?.updates >= 1, undefined, { timeout: 10_000 });
    const text = async (id: string): Promise<string> => (await page.textContent(`#${id}`)) ?? '';
    assert.equal(await text('v-cap'), String(CAP));
    assert.match(await text('v-cap-origin'), /explicit/);
    assert.equal(await text('v-conn-current'), '0');
    assert.match(await text('v-node'), new RegExp(g.node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(await text('v-scope'), /^Shows this process/);
    assert.match(await text('v-settings'), /listen backlog.*effective/);
    assert.match(await text('v-settings'), /handshake timeout/);
    assert.equal(await page.evaluate(() => Object.keys((window as any).floodgateDashboard.charts).length), 4, 'four uPlot charts');
    assert.equal(feed.ticking, true);

    // fill the cap, then 503s past it (admissionTimeout 0: no waiting)
    for (let i = 0; i < CAP; i++) {
      const r = await connect(g.port);
      assert.ok(r.ws, 'admitted');
      clients.push(r.ws);
    }
    const refused = await Promise.all(Array.from({ length: REJECTED }, () => connect(g.port)));
    assert.deepEqual(refused.map((r) => r.status), Array(REJECTED).fill(503));
    // messages in and out, rate-limited ones (burst 5), one replay request
    const [sub, pub] = clients;
    sub.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'dash', recover: { epoch: 'none', offset: 0 } }));
    const answers: { type: string; id?: number; code?: string }[] = [];
    pub.on('message', (d) => answers.push(JSON.parse(d.toString())));
    for (let i = 0; i < 12; i++) pub.send(JSON.stringify({ type: 'publish', id: 100 + i, channel: 'dash', data: { i } }));
    // every publish is answered (ack or error): then the server's counters are final
    const end12 = Date.now() + 10_000;
    while (answers.filter((a) => (a.id ?? 0) >= 100).length < 12 && Date.now() < end12) await new Promise((r) => setTimeout(r, 20));
    const limited = answers.filter((a) => a.type === 'error' && a.code === 'FG_ERR_RATE_LIMITED').length;
    // burst 5 and 1 token/s: the 12 frames arrive together, so the last 7 are dropped
    assert.equal(limited, 7, JSON.stringify(answers));
    assert.equal(answers.filter((a) => a.type === 'published').length, 5);
    assert.equal(g.stats().messages.rateLimited, 7);

    // no named inner functions: tsx would wrap them in a helper the page does not have (and the
    // page's CSP forbids a string predicate)
    await page.waitForFunction(
      ({ cap, rejected, limited }) => {
        const c = (window as any).floodgateDashboard.charts;
        const t = [ 'v-conn-current', 'r-over_capacity-total', 'v-rejected-total', 'v-ratelimited', 'v-replay'].map((id) => document.getElementById(id)!.textContent);
        const m = [c.conn.data[1], c.adm.data[1], c.adm.data[3], c.msg.data[1], c.msg.data[2], c.msg.data[3]]
          .map((a: (number | null)[]) => Math.max(0, ...a.filter((x) => x != null) as number[]));
        return t[0] === String(cap) && t[1] === String(rejected) && t[2] === String(rejected) && t[3] === String(limited) && t[4] === '1'
          && m[0] === cap && m[1] > 0 && m[2] > 0 && m[3] > 0 && m[4] > 0 && m[5] > 0;
      },
      { cap: CAP, rejected: REJECTED, limited: 7 },
      { timeout: 10_000, polling: 200 },
    );
    // the bars show this process's own RSS and fds against their limits (the gateway runs here)
    const s = g.stats();
    const rssPct = Number(await page.getAttribute('#b-rss', 'data-pct'));
    const rssExpected = (100 * process.memoryUsage().rss) / s.memory.limit;
    assert.ok(rssPct > rssExpected / 2 && rssPct < rssExpected * 2, `RSS bar ${rssPct}%, this process ${rssExpected}%`);
    const fdPct = Number(await page.getAttribute('#b-fds', 'data-pct'));
    const fdExpected = (100 * s.fds.open) / s.fds.limit;
    assert.ok(fdPct > fdExpected / 2 && fdPct < fdExpected * 2, `fd bar ${fdPct}%, this process ${fdExpected}%`);
    // a few more ticks so the screenshot shows lines over time, not two points
    await page.waitForFunction(() => (window as any).floodgateDashboard.samples.length >= 5, undefined, { timeout: 10_000 });
    mkdirSync(`${root}test-artifacts`, { recursive: true });
    await page.screenshot({ path: `${root}test-artifacts/dashboard.png`, fullPage: true });

    // connections close: the open count comes back down
    for (const ws of clients.splice(0)) ws.close();
    await page.waitForFunction(() => document.getElementById('v-conn-current')!.textContent === '0', undefined, { timeout: 10_000 });

    assert.deepEqual(pageErrors, []);
    const foreign = requests.filter((u) => !u.startsWith(`http://127.0.0.1:${g.port}/`));
    assert.deepEqual(foreign, [], 'the page loads nothing from elsewhere');
    await browser.close();
    browser = undefined;
    const end = Date.now() + 5000;
    while (feed.watching > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(feed.watching, 0, 'the stream ends when the last tab is gone (sampling into the ring goes on)');
  } finally {
    for (const ws of clients) ws.terminate();
    await browser?.close();
    await g.close();
  }
});

test('dashboard in Chromium: the presence tile shows the entries, the asks and where presence is on', { timeout: 120_000, skip: noChromium }, async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', namespaces: { 'chat:': { presence: true } } } as any);
  const peers: Peer[] = [];
  let browser: Browser | undefined;
  try {
    for (let i = 0; i < 2; i++) {
      const p = await openPeer(`ws://127.0.0.1:${g.port}/`);
      peers.push(p);
      await subscribe(p, 'chat:lobby', 1);
    }
    await presence(peers[0], 'chat:lobby');
    browser = await launchChromium();
    const { page, pageErrors } = await pageWithErrors(browser);
    await page.goto(`http://127.0.0.1:${g.port}/dashboard`);
    await page.waitForFunction(() => document.getElementById('v-presence')!.textContent === '2', undefined, { timeout: 60_000 });
    assert.match((await page.textContent('#v-presence-asks')) ?? '', /^1 asks \(0 failed\), /);
    assert.equal(await page.textContent('#v-presence-where'), 'on for namespace chat:; join/leave off; answers list up to 1000 subs');
    assert.match((await page.textContent('#v-settings')) ?? '', /\n  presence +on for namespace chat:/);
    assert.deepEqual(pageErrors, []);
  } finally {
    for (const p of peers) p.close();
    await browser?.close();
    await g.close();
  }
});
