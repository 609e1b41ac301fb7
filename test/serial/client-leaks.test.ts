import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createGateway } from '../../src/server/gateway.js';
import { FakeServer } from '../client/helpers/fake-server.js';
import { stopGroup, trackGroup } from '../helpers/spawn-group.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function listen(onSocket: (s: Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('10,000 connect/disconnect cycles (ok, refused, reset, never answering, 503) leave no fd and no handle behind', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', rateBurst: 1_000_000, rateRefill: 1_000_000 });
  const reset = await listen((s) => s.resetAndDestroy());
  const hang = await listen(() => {}); // accepts, reads nothing, answers nothing
  const nothing = await listen(() => {});
  const refusedPort = nothing.port;
  await nothing.close(); // nothing listens there any more: ECONNREFUSED
  const busy = await FakeServer.start();
  busy.refuse = () => ({ status: 503, headers: { 'Retry-After': '30' } });
  const child = trackGroup(spawn(process.execPath, ['--import', 'tsx', 'test/client/helpers/leak-cycles.ts'], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      FG_LEAK_CYCLES: '10000',
      FG_LEAK_TARGETS: JSON.stringify({
        ok: `ws://127.0.0.1:${g.port}/`,
        refused: `ws://127.0.0.1:${refusedPort}/`,
        reset: `ws://127.0.0.1:${reset.port}/`,
        hang: `ws://127.0.0.1:${hang.port}/`,
        busy: busy.url,
      }),
    },
  }));
  try {
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const killer = setTimeout(() => void stopGroup(child), 180_000);
    const code = await new Promise<number | null>((r) => child.on('close', r));
    clearTimeout(killer);
    assert.equal(code, 0, `child exited with ${code}: ${out}`);
    const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
    console.log(`# leak cycles: ${JSON.stringify(result)}`);
    assert.deepEqual(result.done, { ok: 2000, refused: 2000, reset: 2000, hang: 2000, busy: 2000 });
    assert.equal(result.after.fds, result.before.fds, 'open file descriptors back to the start');
    assert.deepEqual(result.after.resources, result.before.resources, 'active resources back to the start');
  } finally {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
    await reset.close();
    await hang.close();
    await busy.stop();
    await g.close(1000);
  }
});
