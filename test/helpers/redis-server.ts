import { createServer, connect } from 'node:net';
import { spawnGroup, type GroupProcess } from './spawn-group.js';

/**
 * A free TCP port on 127.0.0.1 (bound then released). Racy: another process may bind it before the
 * caller does. Only for daemons that cannot listen on port 0 and report the port back (redis-server,
 * haproxy, nginx); start our own servers on port 0 and read the port instead.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once something accepts TCP connections on the port; rejects after `timeoutMs` (a
 * ceiling for a busy machine) or as soon as `owner` exits.
 */
export async function waitForPort(port: number, timeoutMs = 60_000, owner?: GroupProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (owner && !owner.alive) throw new Error(`${owner.name} exited before listening on ${port}\n${owner.tail()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/**
 * A real redis-server on a free port, without persistence (`--save "" --appendonly no`), so a
 * restart loses every key — the case the broker's epochs exist for. Stop it by PID.
 */
export class RedisServer {
  private child: GroupProcess | undefined;
  constructor(readonly port: number, private readonly extraArgs: string[] = []) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    this.child = spawnGroup('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...this.extraArgs]);
    await waitForPort(this.port, 60_000, this.child);
  }

  /** SIGKILL by PID and wait for the exit: as abrupt as a crash. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    await child.killNow();
    this.child = undefined;
  }
}

/** `extraArgs` go to redis-server, e.g. `['--enable-debug-command', 'yes']` for DEBUG SLEEP. */
export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const r = new RedisServer(await freePort(), extraArgs);
  await r.start();
  return r;
}
