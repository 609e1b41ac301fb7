import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { startGateway } from '../helpers/scale-gateway.js';
import { freePort } from '../helpers/redis-server.js';
import { Peer } from '../helpers/ws-peer.js';

test('SIGTERM with a keep-alive /healthz poller and a WebSocket connected: exits 0 within shutdownTimeout, logs "gateway stopped"', async () => {
  const port = await freePort();
  const gw = await startGateway(port, ['--shutdown-timeout', '2000'], {}, 60_000); // a loaded box starts slowly
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let polls = 0;
  let polling = true;
  const poll = (): void => {
    if (!polling) return;
    get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
      res.resume();
      res.on('end', () => {
        polls++;
        setTimeout(poll, 50);
      });
    }).on('error', () => setTimeout(poll, 50));
  };
  const peer = new Peer(`ws://127.0.0.1:${port}/`);
  try {
    await peer.opened;
    poll();
    const deadline = Date.now() + 10_000;
    while (polls < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(polls >= 3, 'the poller is running on a kept-alive connection');
    const t0 = Date.now();
    const code = await gw.stop('SIGTERM', 20_000);
    const took = Date.now() - t0;
    assert.equal(code, 0, gw.stderr.slice(-2000));
    assert.match(gw.stderr + gw.stdout, /gateway stopped/);
    assert.equal(peer.closeCode ?? (await peer.closed), 1001);
    console.log(`# SIGTERM → exit 0 in ${took} ms (shutdownTimeout 2000 ms), ${polls} polls`);
  } finally {
    polling = false;
    agent.destroy();
    peer.ws.terminate();
    await gw.stop('SIGKILL');
  }
});
