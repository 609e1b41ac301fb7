#!/usr/bin/env node
// Full-page screenshot of an HTML file or a URL in Debian's Chromium (headless), to look at what a
// person sees: node scripts/screenshot.mjs <file.html|http://…> <out.png> [width=1280] [waitMs=1500] [hoverSelector] [elementSelector]
import { chromium } from 'playwright-core';
import { resolve } from 'node:path';

const [src, out, width = '1280', waitMs = '1500', hover, only] = process.argv.slice(2);
if (!src || !out) {
  process.stderr.write('usage: node scripts/screenshot.mjs <file.html|url> <out.png> [width] [waitMs] [hoverSelector]\n');
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: Number(width), height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(/^https?:/.test(src) ? src : `file://${resolve(src)}`);
  await page.waitForTimeout(Number(waitMs));
  if (hover) {
    const box = await page.locator(hover).first().boundingBox();
    if (box) await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await page.waitForTimeout(300);
  }
  if (only) await page.locator(only).first().screenshot({ path: out });
  else await page.screenshot({ path: out, fullPage: true });
  if (errors.length) process.stderr.write(`page errors: ${errors.join('; ')}\n`);
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await browser.close();
}
