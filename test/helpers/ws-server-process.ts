import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A plain `ws` server (echo) in its own process group. Tests that run several bench coordinators
 * in the test process need the server elsewhere: a coordinator's synchronous /proc reads block the
 * test's event loop for seconds on a busy host, and a server on that loop stops answering upgrades.
 */
export async function startWsServerProcess(): Promise<{ url: string; stop: () => Promise<void> }> {
  const script = "import { WebSocketServer } from 'ws'; const w = new WebSocketServer({ host: '127.0.0.1', port: 0 }); w.on('listening', () => console.log(w.address().port)); w.on('connection', (s) => s.on('message', (m) => s.send(m.toString())));";
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ws server process did not start within 30 s')), 30_000);
    createInterface({ input: child.stdout! }).once('line', (l) => {
      clearTimeout(timer);
      resolve(Number(l));
    });
    child.once('exit', (code) => reject(new Error(`ws server process exited with ${code}`)));
  });
  return {
    url: `ws://127.0.0.1:${port}/`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
      await exited;
    },
  };
}
