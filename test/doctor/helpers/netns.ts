// Network namespaces for tests: sysctls like somaxconn and ip_local_port_range, and the kernel
// counters, are per namespace, so a test can change them and count drops without touching the host
// or seeing other tests' traffic. Needs root and iproute2.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { stopGroup, trackGroup } from '../../helpers/spawn-group.js';

export function netnsAvailable(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function createNetns(name: string): void {
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

export function deleteNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Runs a command inside the namespace and returns its stdout. */
export function inNetns(name: string, cmd: string[], opts: { timeout?: number } = {}): string {
  return execFileSync('ip', ['netns', 'exec', name, ...cmd], { encoding: 'utf8', timeout: opts.timeout ?? 30_000 });
}

export function readSysctlIn(name: string, key: string): string {
  return inNetns(name, ['cat', `/proc/sys/${key.replace(/\./g, '/')}`]).trim().replace(/\s+/g, ' ');
}

/** Starts a long-running process (exec'd, so its pid is the pid of the final program) and resolves with its first stdout line. */
export function startWithFirstLine(cmd: string[], timeoutMs = 90_000): Promise<{ child: ChildProcess; line: string }> {
  const child = trackGroup(spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stopGroup(child);
      reject(new Error(`no output from ${cmd.join(' ')} in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      clearTimeout(timer);
      resolve({ child, line });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd.join(' ')} exited with ${code}: ${stderr}`));
    });
  });
}

/** Stops a child we started (its whole process group) and waits for it. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  await stopGroup(child);
}
