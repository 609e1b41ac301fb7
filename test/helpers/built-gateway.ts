import { spawn, type ChildProcess } from 'node:child_process';

/**
 * `floodgate serve` from the built dist/ (what users run), in a process group of its own, on
 * 127.0.0.1 with a free port, resolved with its first stdout line: the JSON startup block.
 * `prefix` runs it under another program (e.g. `prlimit --nofile=300:300`), which must exec it
 * so the group still holds the gateway. Stop it with `killGroup`.
 */
export interface BuiltGateway {
  child: ChildProcess;
  /** The startup block (`listen.port`, `listen.healthPort`, …). */
  startup: { listen: { port: number; healthPort?: number } } & Record<string, unknown>;
  port: number;
}

const root = new URL('../../', import.meta.url).pathname;

export async function startBuiltGateway(args: string[], opts: { prefix?: string[]; ceilingMs?: number } = {}): Promise<BuiltGateway> {
  const ceiling = opts.ceilingMs ?? 20_000;
  const argv = [process.execPath, `${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', ...args];
  const [cmd, ...rest] = [...(opts.prefix ?? []), ...argv];
  const child = spawn(cmd, rest, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  try {
    const startup = await new Promise<BuiltGateway['startup']>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`floodgate serve did not start within ${ceiling} ms`)), ceiling);
      child.stdout!.on('data', (c) => {
        buf += c;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(JSON.parse(buf.slice(0, nl)));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`floodgate serve exited ${code}`));
      });
    });
    child.stdout!.resume();
    return { child, startup, port: startup.listen.port };
  } catch (err) {
    killGroup(child);
    throw err;
  }
}

export function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}
