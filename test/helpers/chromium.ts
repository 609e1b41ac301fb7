import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
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

export interface SdkPage {
  /** The page is http://127.0.0.1:<port>/; it sets `window.fg` (the SDK) and then `window.fgLoaded`. */
  port: number;
  /** The files esbuild put in the bundle. */
  inputs: string[];
  close(): Promise<void>;
}

/** The SDK (src/client/index.ts) bundled for the browser with esbuild, served with a page that loads it. */
export async function serveSdkPage(): Promise<SdkPage> {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../../src/client/index.ts', import.meta.url))],
    bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent',
  });
  const js = bundle.outputFiles[0].text;
  const web = createServer((req, res) => {
    if (req.url === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module">import * as fg from "/client.js"; window.fg = fg; window.fgLoaded = true;</script>');
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  return {
    port: (web.address() as { port: number }).port,
    inputs: Object.keys(bundle.metafile.inputs),
    close: () => new Promise<void>((r) => web.close(() => r())),
  };
}
