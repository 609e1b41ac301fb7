import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { killGroup, startBuiltGateway } from '../helpers/built-gateway.js';

/**
 * Silent TCP connections past the process's fd limit: a hostile client needs no bytes at all,
 * only connects. The gateway under `prlimit --nofile=300` (cap 236 from fds) gets 600 of them.
 * Before: the first read of /proc in a timer failed with EMFILE and the process exited 1.
 */
const CEILING = 20_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The gateway under a 300-fd limit (prlimit execs it, so its process group holds the gateway). */
const startLimited = (args: string[]) => startBuiltGateway(['--log-level', 'error', ...args], { prefix: ['prlimit', '--nofile=300:300'], ceilingMs: CEILING });

test('600 silent TCP connections against a 300-fd process: it stays up, refuses the excess with 503, keeps its clients, and serves again after', { timeout: 120_000 }, async () => {
  const { child, port } = await startLimited(['--handshake-timeout', '3s']);
  const socks: Socket[] = [];
  let canary: WebSocket | undefined;
  try {
    canary = new WebSocket(`ws://127.0.0.1:${port}/`);
    canary.on('error', () => {});
    await new Promise<void>((resolve, reject) => { canary!.once('open', () => resolve()); canary!.once('error', reject); });
    const answers: string[] = [];
    for (let i = 0; i < 600; i++) {
      const s = connect(port, '127.0.0.1');
      const k = answers.push('') - 1;
      s.on('error', () => {});
      s.on('data', (d) => (answers[k] += d.toString('latin1')));
      socks.push(s);
      if (i % 50 === 49) await sleep(20);
    }
    // every socket is answered or held: wait until the refusals have arrived (bounded)
    const deadline = Date.now() + CEILING;
    while (answers.filter((a) => a.startsWith('HTTP/1.1 503')).length < 300 && Date.now() < deadline && child.exitCode === null) await sleep(50);
    assert.equal(child.exitCode, null, 'the gateway process exited');
    const refused = answers.filter((a) => a.startsWith('HTTP/1.1 503'));
    assert.ok(refused.length >= 300, `${refused.length} of 600 silent sockets were refused with 503`);
    assert.ok(refused.every((a) => /"code":"FG_ERR_OVER_CAPACITY"/.test(a)), refused[0]);
    // the connected client carries on
    const pong = new Promise<void>((resolve) => canary!.on('message', (m) => { if (String(m).includes('"pong"')) resolve(); }));
    canary.send('{"type":"ping","id":1}');
    await Promise.race([pong, sleep(CEILING).then(() => assert.fail('no pong for the client connected before the flood'))]);
    for (const s of socks) s.destroy();
    // and once the silent sockets are gone, the gateway serves again
    let status = 0;
    const again = Date.now() + CEILING;
    while (status !== 200 && Date.now() < again) {
      status = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status, () => 0);
      if (status !== 200) await sleep(100);
    }
    assert.equal(status, 200);
    const stats = await (await fetch(`http://127.0.0.1:${port}/stats`, { signal: AbortSignal.timeout(5000) })).json();
    assert.ok(stats.admission.rejected.fd_budget >= 300, JSON.stringify(stats.admission?.rejected));
    assert.equal(child.exitCode, null);
  } finally {
    canary?.terminate();
    for (const s of socks) s.destroy();
    killGroup(child);
  }
});

test('600 silent TCP connections to the health port of a 300-fd process: the health port holds a few, the main port keeps answering', { timeout: 120_000 }, async () => {
  const { child, startup } = await startLimited(['--health-port', '0']);
  const socks: Socket[] = [];
  try {
    const { port, healthPort } = startup.listen as { port: number; healthPort: number };
    assert.ok(healthPort > 0, JSON.stringify(startup.listen));
    for (let i = 0; i < 600; i++) {
      const s = connect(healthPort, '127.0.0.1');
      s.on('error', () => {});
      s.resume();
      socks.push(s);
      if (i % 50 === 49) await sleep(20);
    }
    await sleep(1000);
    assert.equal(child.exitCode, null, 'the gateway process exited');
    // before: the health port's sockets took every fd, and the main port answered nothing
    const status = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.status, (e: Error) => `failed: ${e.message}`);
    assert.equal(status, 200);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.on('error', () => {});
    const opened = await Promise.race([new Promise<boolean>((r) => ws.once('open', () => r(true))), sleep(10_000).then(() => false)]);
    ws.terminate();
    assert.ok(opened, 'a WebSocket client could not connect during the flood');
  } finally {
    for (const s of socks) s.destroy();
    killGroup(child);
  }
});
