#!/usr/bin/env node
// Screenshots of the live dashboard as a person meets it, into test-artifacts/screens/:
// a tab opened mid-run (it starts from the gateway's ring of samples), the same with the pointer
// on a chart (legend values on hover), and the machine-wide page of `serve --workers 2`.
// Usage (after `npm run build`): node scripts/capture-dashboard.mjs [port=18420]
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const port = Number(process.argv[2] ?? 18420);
const out = 'test-artifacts/screens';
mkdirSync(out, { recursive: true });
const cli = (args) => spawn(process.execPath, ['dist/cli/main.js', ...args], { stdio: ['ignore', 'ignore', 'ignore'], detached: true });
const killGroup = (p) => { try { process.kill(-p.pid, 'SIGTERM'); } catch {} };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitUp(p) {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${p}/healthz`)).ok) return; } catch {}
    await sleep(200);
  }
  throw new Error(`gateway on ${p} did not come up`);
}

async function shoot(label, serveArgs, p) {
  const server = cli(['serve', '--host', '127.0.0.1', '--port', String(p), '--max-connections', '3000', '--admission-timeout', '1s', ...serveArgs]);
  const procs = [server];
  try {
    await waitUp(p);
    // a ramp past the cap (admitted, then 503s), held 90 s; the tab opens 20 s in, while connections are held
    procs.push(cli(['bench', `ws://127.0.0.1:${p}/`, '-c', '6000', '-r', '200/s', '-d', '90s', '--publish-rate', '1/s']));
    await sleep(20_000);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`http://127.0.0.1:${p}/dashboard`, { timeout: 90_000 });
      await page.waitForFunction(() => (window.floodgateDashboard?.updates ?? 0) >= 2, undefined, { timeout: 15_000 });
      await sleep(1500);
      await page.screenshot({ path: `${out}/dashboard-${label}.png`, fullPage: true });
      const over = page.locator('#chart-adm .u-over');
      const box = await over.boundingBox();
      await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
      await sleep(300);
      await page.locator('#chart-adm').screenshot({ path: `${out}/dashboard-${label}-hover.png` });
      console.log(`wrote ${out}/dashboard-${label}.png and -hover.png; legend on hover: ${(await page.locator('#chart-adm .u-legend').innerText()).replace(/\s+/g, ' ')}`);
    } finally {
      await browser.close();
    }
  } finally {
    procs.reverse().forEach(killGroup);
    await sleep(1500);
  }
}

if (!process.argv.includes('--workers-only')) await shoot('midrun', [], port);
await shoot('workers', ['--workers', '2'], port + 1);
