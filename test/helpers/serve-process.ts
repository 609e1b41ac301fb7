import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GatewayProcess } from './scale-gateway.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `floodgate serve` from source in its own process group, waiting up to `timeoutMs` for its
 * startup line (through tsx, a primary and its workers can take long to start on a busy machine).
 * Stop it with `stopServe`, which also kills the group.
 */
export async function startServe(port: number, flags: string[], ready: RegExp, timeoutMs = 90_000): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', String(port), '--log-format', 'json', ...flags], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  const g = new GatewayProcess(child, port);
  try {
    await g.waitFor(ready, timeoutMs);
  } catch (err) {
    killGroup(child.pid!);
    throw err;
  }
  return g;
}

export async function stopServe(g: GatewayProcess): Promise<void> {
  await g.stop();
  killGroup(g.pid); // workers too, should the primary not have stopped them
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch { /* already gone */ }
}
