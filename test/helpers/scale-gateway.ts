import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { spawnGroup, type GroupProcess } from './spawn-group.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A `floodgate serve` process (from source, through tsx) in its own process group. */
export class GatewayProcess {
  readonly exited: Promise<number | null>;
  constructor(readonly proc: GroupProcess, public port: number) {
    this.exited = proc.exited.then((e) => e.code);
  }

  get stdout(): string {
    return this.proc.stdout;
  }

  get stderr(): string {
    return this.proc.stderr;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get alive(): boolean {
    return this.proc.alive;
  }

  /** Waits until stdout has a line matching `pattern` (e.g. the startup block); the ceiling is for a busy machine. */
  waitFor(pattern: RegExp, timeoutMs = 90_000): Promise<void> {
    return this.proc.waitFor((p) => pattern.test(p.stdout), timeoutMs, `a line matching ${pattern} on stdout`);
  }

  /**
   * Sends a signal to the gateway (primary) and waits for its exit; SIGKILLs the whole group
   * after `timeoutMs`, and afterwards in every case, so no worker outlives the test.
   */
  stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | null> {
    return this.proc.stop(signal, timeoutMs);
  }
}

/**
 * Starts `floodgate serve` on 127.0.0.1:port with the given flags and waits for its startup block.
 * Pass port 0 to let the kernel choose (no race with other tests for a "free" port); the port is
 * then read back from the startup block (`listen.port`, or `workers.port` with --workers).
 */
export async function startGateway(port: number, flags: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 90_000): Promise<GatewayProcess> {
  const proc = spawnGroup(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', String(port), '--log-format', 'json', ...flags],
    { cwd: root, env: { ...process.env, ...env }, name: 'floodgate serve' },
  );
  const g = new GatewayProcess(proc, port);
  try {
    await g.waitFor(flags.includes('--workers') ? /"workers":\{/ : /"listening"|"listen"/, timeoutMs);
  } catch (err) {
    await proc.killNow(); // a gateway that never came up must not outlive the test
    throw err;
  }
  if (port === 0) g.port = listenedPort(g.stdout);
  return g;
}

/** The port from `serve --log-format json`'s startup block. */
export function listenedPort(stdout: string): number {
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as { workers?: { port?: number }; event?: string; listen?: { port?: number } };
    if (j.workers?.port) return j.workers.port;
    if (j.event === 'listening' && j.listen?.port && !stdout.includes('{"workers":')) return j.listen.port;
  }
  throw new Error(`no port in the startup block: ${stdout.slice(0, 500)}`);
}

export function getJson(port: number, path: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    }).on('error', reject);
  });
}
