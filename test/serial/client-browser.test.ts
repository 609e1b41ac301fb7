import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { Client } from '../../src/client/index.js';
import { createGateway, type Gateway } from '../../src/server/gateway.js';
import { TcpProxy } from '../client/helpers/tcp-proxy.js';
import { launchChromium, noChromium, pageWithErrors, serveSdkPage } from '../helpers/chromium.js';

const quiet = { host: '127.0.0.1', logLevel: 'silent' as const, historySize: 1000 };

/**
 * The SDK bundled for the browser runs in real Chromium. The network path between page and
 * gateway goes through a TCP proxy the test takes down and brings back, so the gateway (and the
 * channel's history) survive and the page must recover the messages it missed. Then the gateway
 * itself restarts on the same port: with the memory broker that is a new epoch, which the page
 * must report as recovered:false (epoch_changed) before carrying on.
 */
test('browser: bundled SDK in Chromium subscribes, survives a drop, recovers missed messages, reports a restart', { skip: noChromium }, async () => {
  const web = await serveSdkPage();
  assert.ok(!web.inputs.some((p) => p.includes('node_modules')), `the browser bundle must not pull packages in: ${web.inputs.join(', ')}`);

  let g: Gateway = await createGateway({ ...quiet, port: 0 });
  const gatewayPort = g.port;
  const proxy = await new TcpProxy(gatewayPort).start();
  const pub = new Client(`ws://127.0.0.1:${gatewayPort}/`, { initialDelay: 20, maxDelay: 200, circuitThreshold: 0 });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const { page, pageErrors } = await pageWithErrors(browser);
    await page.goto(`http://127.0.0.1:${web.port}/`);
    await page.waitForFunction(() => (window as any).fgLoaded === true);
    await page.evaluate((url) => {
      const w = window as any;
      w.got = [];
      w.recoveries = [];
      w.states = [];
      w.client = new w.fg.Client(url, { initialDelay: 50, maxDelay: 400, circuitThreshold: 0 });
      w.client.on('state', (s: any) => w.states.push(s.newState));
      w.client.on('recovery', (r: any) => w.recoveries.push(r));
      w.sub = w.client.subscribe('browser', (m: any) => w.got.push([m.epoch, m.offset, m.data]));
    }, `ws://127.0.0.1:${proxy.port}/`);
    await page.waitForFunction(() => (window as any).sub.state === 'subscribed', undefined, { timeout: 10_000 });

    for (let i = 1; i <= 50; i++) await pub.publish('browser', i);
    await page.waitForFunction(() => (window as any).got.length === 50, undefined, { timeout: 10_000 });

    // Drop the network path; publish while the page cannot be reached; bring it back.
    await proxy.stop();
    await page.waitForFunction(() => (window as any).client.state !== 'connected', undefined, { timeout: 10_000 });
    for (let i = 51; i <= 100; i++) await pub.publish('browser', i);
    await proxy.start();
    await page.waitForFunction(() => (window as any).got.length === 100, undefined, { timeout: 15_000 });
    const afterDrop = await page.evaluate(() => ({ got: (window as any).got, recoveries: (window as any).recoveries, stats: (window as any).sub.stats }));
    const epoch = afterDrop.got[0][0];
    assert.deepEqual(afterDrop.got, Array.from({ length: 100 }, (_, k) => [epoch, k + 1, k + 1]), 'every message once, in order');
    assert.equal(afterDrop.recoveries.length, 1);
    assert.equal(afterDrop.recoveries[0].recovered, true);
    assert.equal(afterDrop.recoveries[0].replayed, 50);

    // Restart the gateway on the same port (memory broker: the history is gone, a new epoch).
    await g.close(1000);
    g = await createGateway({ ...quiet, port: gatewayPort });
    await page.waitForFunction(() => (window as any).recoveries.length === 2, undefined, { timeout: 15_000 });
    await pub.ready(10_000);
    await pub.publish('browser', 'after restart');
    await page.waitForFunction(() => (window as any).got.length === 101, undefined, { timeout: 10_000 });
    const end = await page.evaluate(() => ({ got: (window as any).got, recoveries: (window as any).recoveries, states: (window as any).states }));
    assert.equal(end.recoveries[1].recovered, false);
    assert.equal(end.recoveries[1].reason, 'epoch_changed');
    assert.notEqual(end.got[100][0], epoch);
    assert.deepEqual(end.got[100].slice(1), [1, 'after restart']);
    assert.ok(end.states.filter((s: string) => s === 'connected').length >= 3, `states: ${end.states.join(' ')}`);
    await page.evaluate(() => (window as any).client.close());
    assert.equal(await page.evaluate(() => (window as any).client.state), 'closed');
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    await pub.close();
    await proxy.stop();
    await g.close(1000);
    await web.close();
  }
});
