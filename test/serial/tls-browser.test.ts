import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { createGateway } from '../../src/server/gateway.js';
import { installPair, selfSigned } from '../helpers/self-signed.js';
import { call } from '../helpers/http-call.js';
import { launchChromium, noChromium, pageWithErrors, serveSdkPage } from '../helpers/chromium.js';

/**
 * wss:// in a real browser: Chromium trusts the test's self-signed certificate by its public-key
 * pin only (`--ignore-certificate-errors-spki-list`), the bundled SDK connects with wss://, and a
 * backend publishes through the server API on the admin listener.
 */
test('browser: the bundled SDK in Chromium connects over wss:// and receives what a backend publishes through the API', { skip: noChromium, timeout: 90_000 }, async () => {
  const web = await serveSdkPage();

  const pair = selfSigned();
  const dir = mkdtempSync(join(tmpdir(), 'fg-tls-browser-'));
  installPair(pair, join(dir, 'c.pem'), join(dir, 'k.pem'));
  const spki = createHash('sha256').update(createPublicKey(pair.cert).export({ type: 'spki', format: 'der' })).digest('base64');
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', tlsCert: join(dir, 'c.pem'), tlsKey: join(dir, 'k.pem'), adminPort: 0, apiKey: 'browser-key' });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spki}`]);
    const { page, pageErrors } = await pageWithErrors(browser);
    await page.goto(`http://127.0.0.1:${web.port}/`);
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
    await web.close();
  }
});
