import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

/** Debian's `chromium`, driven by playwright-core (no browser download). */
export const CHROMIUM = '/usr/bin/chromium';

/** For `test(…, { skip: noChromium })`: false when Chromium is installed, else why the test is skipped. */
export const noChromium: string | false = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install -y chromium)`;

const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Headless Chromium as every browser test runs it; `extraArgs` adds flags (e.g. a certificate pin). */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs] });
}

/** A new page that records its uncaught errors: a test ends with `assert.deepEqual(pageErrors, [])`. */
export async function pageWithErrors(browser: Browser, options?: BrowserContextOptions): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.newPage(options);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return { page, pageErrors };
}
