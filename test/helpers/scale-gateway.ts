import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A `floodgate serve` process (from source, through tsx), stopped by PID. */
export class GatewayProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess, public port: number) {
    child.stdout!.on('data', (c: Buffer) => (this.stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until stdout has a line matching `pattern` (e.g. the startup block). */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stdout)) {
      if (!this.alive) throw new Error(`gateway exited early: ${this.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`gateway did not print ${pattern} within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Sends a signal by PID and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 8000): Promise<number | null> {
    if (!this.alive) return this.child.exitCode;
    process.kill(this.pid, signal);
    const timer = setTimeout(() => this.alive && process.kill(this.pid, 'SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/**
 * Starts `floodgate serve` on 127.0.0.1:port with the given flags and waits for its startup block.
 * Pass port 0 to let the kernel choose (no race with other tests for a "free" port); the port is
 * then read back from the startup block (`listen.port`, or `workers.port` with --workers).
 */
export async function startGateway(port: number, flags: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<GatewayProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', String(port), '--log-format', 'json', ...flags],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  const g = new GatewayProcess(child, port);
  try {
    await g.waitFor(flags.includes('--workers') ? /"workers":\{/ : /"listening"|"listen"/, timeoutMs);
  } catch (err) {
    await g.stop('SIGKILL'); // never leave a half-started gateway behind
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
