import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { createGateway } from '../../src/server/gateway.js';
import { installPair, selfSigned } from '../helpers/self-signed.js';
import { call } from '../helpers/http-call.js';
import { launchChromium, noChromium, pageWithErrors } from '../helpers/chromium.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * wss:// in a real browser: Chromium trusts the test's self-signed certificate by its public-key
 * pin only (`--ignore-certificate-errors-spki-list`), the bundled SDK connects with wss://, and a
 * backend publishes through the server API on the admin listener.
 */
test('browser: the bundled SDK in Chromium connects over wss:// and receives what a backend publishes through the API', { skip: noChromium, timeout: 90_000 }, async () => {
  const bundle = await build({ entryPoints: [`${root}src/client/index.ts`], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
  const js = bundle.outputFiles[0].text;
  const web = createServer((req, res) => {
    if (req.url === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module">import * as fg from "/client.js"; window.fg = fg; window.fgLoaded = true;</script>');
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  const webPort = (web.address() as { port: number }).port;

  const pair = selfSigned();
  const dir = mkdtempSync(join(tmpdir(), 'fg-tls-browser-'));
  installPair(pair, join(dir, 'c.pem'), join(dir, 'k.pem'));
  const spki = createHash('sha256').update(createPublicKey(pair.cert).export({ type: 'spki', format: 'der' })).digest('base64');
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', tlsCert: join(dir, 'c.pem'), tlsKey: join(dir, 'k.pem'), adminPort: 0, apiKey: 'browser-key' });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spki}`]);
    const { page, pageErrors } = await pageWithErrors(browser);
    await page.goto(`http://127.0.0.1:${webPort}/`);
    await page.waitForFunction(() => (window as any).fgLoaded === true);
    await page.evaluate((url) => {
      const w = window as any;
      w.got = [];
      w.client = new w.fg.Client(url, { initialDelay: 50, maxDelay: 400, circuitThreshold: 0 });
      w.sub = w.client.subscribe('prices:eurusd', (m: any) => w.got.push(m.data));
    }, `wss://localhost:${g.port}/`);
    await page.waitForFunction(() => (window as any).sub.state === 'subscribed', undefined, { timeout: 20_000 });
    for (let i = 1; i <= 3; i++) {
      const r = await call(g.admin.address!.port, 'POST', '/api/publish', { body: { channel: 'prices:eurusd', data: { bid: i } }, headers: { 'x-api-key': 'browser-key' } });
      assert.equal(r.body.offset, i);
    }
    await page.waitForFunction(() => (window as any).got.length === 3, undefined, { timeout: 20_000 });
    assert.deepEqual(await page.evaluate(() => (window as any).got), [{ bid: 1 }, { bid: 2 }, { bid: 3 }]);
    await page.evaluate(() => (window as any).client.close());
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    await g.close(1000);
    await new Promise<void>((r) => web.close(() => r()));
  }
});
