import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchChromium } from '../helpers/chromium.js';
import { WebSocketServer } from 'ws';
import { createGateway } from '../../src/server/gateway.js';
import { run, renderReport } from '../../src/loadgen/index.js';
import { stopGroup, trackGroup } from '../helpers/spawn-group.js';

const root = new URL('../..', import.meta.url).pathname;
const artifacts = join(root, 'test-artifacts');
/** Server text that ends up in a failure example (a close reason): the compare report must show it as text. */
const EVIL = '<img src=x onerror=alert(1)>';

/** Async on purpose: the target server lives in this process and must keep accepting. */
function cli(args: string[], prefix: string[] = []): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const cmd = [...prefix, process.execPath, '--import', 'tsx', join(root, 'src/cli/main.ts'), 'bench', ...args];
  const child = trackGroup(spawn(cmd[0], cmd.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const kill = setTimeout(() => void stopGroup(child), 120_000);
  return new Promise((res) => child.on('close', (status) => {
    clearTimeout(kill);
    res({ status, stdout, stderr });
  }));
}

describe('floodgate bench (CLI, gateway, report)', () => {
  let wss: WebSocketServer;
  let port: number;
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    port = (wss.address() as { port: number }).port;
    let n = 0;
    wss.on('connection', (ws, req) => {
      if (req.url === '/evil' && n++ % 2 === 0) ws.close(4000, EVIL);
    });
  });
  after(() => wss.close());

  it('--json prints the result and a broken threshold exits 1; compare reads two results', async () => {
    const a = join(artifacts, 'bench-a.json');
    const r = await cli([`ws://127.0.0.1:${port}/`, '-c', '50', '-d', '300ms', '--json', '--out', a, '--threshold', 'success_rate>=0.99', '--threshold', 'p99_handshake_ms<0']);
    assert.equal(r.status, 1, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.totals.successes, 50);
    assert.deepEqual(res.thresholds.map((t: { ok: boolean }) => t.ok), [true, false]);
    const b = join(artifacts, 'bench-b.json');
    const r2 = await cli(['tcp://127.0.0.1:1', '-c', '5', '-d', '0s', '--out', b]);
    assert.equal(r2.status, 1, 'a failed connection exits 1 when no threshold decides');
    assert.match(r2.stdout, /connect\.ECONNREFUSED\s+server\s+5/);
    assert.match(r2.stdout, /^Exit code 1: 5 of 5 connections failed \(rule: exit 1 when any connection failed, unless --threshold/m);
    const r3 = await cli(['tcp://127.0.0.1:1', '-c', '5', '-d', '0s', '--threshold', 'failures<=5', '--json']);
    assert.equal(r3.status, 0, 'thresholds decide when given');
    assert.deepEqual(JSON.parse(r3.stdout).exit, { code: 0, reason: 'all 1 threshold(s) held' });
    const usage = await cli(['tcp://127.0.0.1:1', '--no-such-flag']);
    assert.equal(usage.status, 2, usage.stderr);
    const c = await cli(['compare', a, b]);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /success_rate\s+1\s+0/);
  });

  it('without a TTY: a progress line to stderr and "closing …" during teardown; usage errors name the flag', async () => {
    const r = await cli([`ws://127.0.0.1:${port}/`, '-c', '30', '-r', '20/s', '-d', '1s']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^\[1\.0 s \/ \d+ s\] open \d+ of 30 · \+\d+\/s \(plan \d+\/s\) · held \d+ of \d+ attempted.* · no failures$/m);
    assert.match(r.stderr, /^\[[\d.]+ s\] closing 30 connections …$/m);
    assert.match(r.stdout, /^  CO = coordinated-omission corrected/m);
    const bad = await cli([`ws://127.0.0.1:${port}/`, '-c', 'abc']);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, "floodgate: FG_ERR_BENCH_PLAN: Expected `--connections/-c` to be an integer from 1 to 10,000,000, got `abc`\nUsage: floodgate bench [options] [command] [url]\nRun 'floodgate bench --help' for every option.\n");
    const bare = await cli([]);
    assert.equal(bare.status, 2);
    assert.match(bare.stderr, /^floodgate: FG_ERR_BENCH_TARGET: bench needs a target: floodgate bench ws:\/\/host:port\/path/);
    const unknown = await cli(['--nope']);
    assert.equal(unknown.stderr.trim().split('\n').length, 3, unknown.stderr);
    const yaml = join(artifacts, 'bench-rate-units.yaml');
    writeFileSync(yaml, `url: ws://127.0.0.1:${port}/\nstages:\n  - { connections: 10, rate: 50/s, duration: 0s }\n`);
    const y = await cli(['-s', yaml, '--json']);
    assert.equal(y.status, 0, y.stderr);
    assert.equal(JSON.parse(y.stdout).stages[0].rate, 50);
  });

  it('a scenario file with two stages (YAML)', async () => {
    const f = join(artifacts, 'bench-scenario.yaml');
    writeFileSync(f, `url: ws://127.0.0.1:${port}/\nstages:\n  - { connections: 20, duration: 200ms }\n  - { connections: 60, rate: 200, duration: 300ms }\n`);
    const r = await cli(['-s', f, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.stages.length, 2);
    assert.equal(res.totals.attempts, 60);
    assert.equal(res.totals.successes, 60);
  });

  it('generator EMFILE under a tiny fd limit, forced past the pre-flight, is classified generator-side', async () => {
    const r = await cli([`ws://127.0.0.1:${port}/`, '-c', '300', '-w', '1', '-d', '300ms', '--force', '--json'], ['prlimit', '--nofile=160:160']);
    assert.equal(r.status, 1, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.match(res.plan.warnings.join(), /forced past the pre-flight: fd limit/);
    const emfile = res.failures.find((f: { kind: string }) => f.kind === 'connect.EMFILE');
    assert.ok(emfile, JSON.stringify(res.failures));
    assert.equal(emfile.side, 'generator');
    assert.ok(res.totals.successes > 0);
    assert.equal(res.totals.successes + res.totals.failures, 300, 'every attempt is accounted for');
  });

  it('floodgate serve with a small cap: 503s with Retry-After, server side', async () => {
    const gw = await createGateway({ host: '127.0.0.1', port: 0, maxConnections: 5, admissionTimeout: 0, logLevel: 'silent' } as never);
    try {
      const res = await run({ url: `ws://127.0.0.1:${gw.port}/`, connections: 20, durationMs: 500, workers: 1, serverPid: process.pid });
      assert.equal(res.totals.successes, 5);
      const b = res.failures.find((f) => f.kind === 'upgrade.status_503');
      assert.ok(b, JSON.stringify(res.failures));
      assert.equal(b.count, 15);
      assert.equal(b.side, 'server');
      assert.deepEqual(b.retryAfter, [gw.settings.retryAfter], 'the gateway\'s Retry-After, as sent');
      assert.equal(res.evidence.server?.pid, process.pid);
      // the gateway runs in this process: its 5 held sockets and its listener are among the fds
      assert.ok((res.evidence.server?.peakFds ?? 0) >= 6, `peakFds ${res.evidence.server?.peakFds}`);
    } finally {
      await gw.close();
    }
  });

  it('the HTML report renders its uPlot charts in Chromium', async () => {
    const res = await run({ url: `ws://127.0.0.1:${port}/`, connections: 40, rate: 100, durationMs: 600, workers: 1, tickMs: 200 });
    const file = join(artifacts, 'bench-report.html');
    const html = renderReport(res);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'no external resources');
    writeFileSync(file, html);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${file}`);
      // open, rates, handshake latency, start lag (no failures: no chart of failure kinds)
      const canvases = await page.locator('.uplot canvas').count();
      assert.equal(canvases, 4);
      const painted = await page.evaluate(() => [...document.querySelectorAll('.uplot canvas')].map((c) => (c as HTMLCanvasElement).width > 0 && (c as HTMLCanvasElement).height > 0));
      assert.deepEqual(painted, [true, true, true, true]);
      // legends show the last value, never uPlot's empty "--"
      assert.doesNotMatch(await page.locator('#open .u-legend').innerText(), /--/);
      assert.match(await page.locator('#open .u-legend').innerText(), /open\s*:?\s*40/);
      assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), []);
      await page.screenshot({ path: join(artifacts, 'bench-report.png'), fullPage: true });
      assert.ok(readFileSync(join(artifacts, 'bench-report.png')).length > 1000);
    } finally {
      await browser.close();
    }
  });

  it('compare --report: both runs side by side, overlaid uPlot charts render in Chromium, server text stays text', async () => {
    const a = join(artifacts, 'bench-compare-a.json');
    const b = join(artifacts, 'bench-compare-b.json');
    writeFileSync(a, JSON.stringify(await run({ url: `ws://127.0.0.1:${port}/`, connections: 40, rate: 100, durationMs: 600, workers: 1, tickMs: 200 })));
    writeFileSync(b, JSON.stringify(await run({ url: `ws://127.0.0.1:${port}/evil`, connections: 40, durationMs: 600, workers: 1, tickMs: 200 })));
    const file = join(artifacts, 'bench-compare.html');
    const c = await cli(['compare', a, b, '--json', '--report', file]);
    assert.equal(c.status, 0, c.stderr);
    const rows = Object.fromEntries(JSON.parse(c.stdout).map((r: { metric: string }) => [r.metric, r]));
    assert.deepEqual([rows.success_rate.a, rows.success_rate.b, rows.success_rate.better], [1, 0.5, 'a']);
    const html = readFileSync(file, 'utf8');
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'no external resources');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      const dialogs: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await page.goto(`file://${file}`);
      const charts = await page.evaluate(() =>
        [...document.querySelectorAll('.uplot')].map((u) => {
          const c = u.querySelector('canvas') as HTMLCanvasElement;
          return { title: u.querySelector('.u-title')?.textContent, w: c.width, h: c.height, series: u.querySelectorAll('.u-legend .u-series').length };
        }),
      );
      assert.deepEqual(charts.map((x) => [x.title, x.series]), [['Open connections', 3], ['Attempts, successes and failures per second', 7]]);
      assert.ok(charts.every((x) => x.w > 0 && x.h > 0), JSON.stringify(charts));
      assert.ok((await page.getByText(EVIL, { exact: false }).count()) > 0, 'the close reason shows as text');
      assert.equal(await page.locator('img').count(), 0);
      assert.deepEqual(dialogs, []);
      assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), []);
      await page.screenshot({ path: join(artifacts, 'bench-compare.png'), fullPage: true });
      assert.ok(readFileSync(join(artifacts, 'bench-compare.png')).length > 1000);
    } finally {
      await browser.close();
    }
  });
});
