// The ground-truth harness: a fresh network namespace per case, a deliberately faulty server and the
// real `floodgate bench` (dist/cli/main.js) inside it. Every process runs in its own process group
// and the group is killed in cleanup; namespace names carry the pid and a counter, because other
// suites create namespaces at the same time.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../../src/loadgen/types.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
export const faultServerPath = `${root}test/fixtures/doctor/fault-server.mjs`;
export const cliPath = `${root}dist/cli/main.js`;

let counter = 0;

export class Netns {
  readonly name = `fgt11-${process.pid}-${++counter}-${randomBytes(2).toString('hex')}`;
  private readonly groups: ChildProcess[] = [];

  constructor() {
    execFileSync('ip', ['netns', 'add', this.name]);
    execFileSync('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
  }

  exec(cmd: string[], timeout = 30_000): string {
    return execFileSync('ip', ['netns', 'exec', this.name, ...cmd], { encoding: 'utf8', timeout });
  }

  sysctl(...settings: string[]): void {
    this.exec(['sysctl', '-q', '-w', ...settings]);
  }

  /** Starts a long-running command in the namespace (its own process group) and resolves with its first stdout line. */
  start(cmd: string[], timeoutMs = 30_000): Promise<{ child: ChildProcess; line: string }> {
    const child = spawn('ip', ['netns', 'exec', this.name, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.groups.push(child);
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (d) => (stderr += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        killGroup(child);
        reject(new Error(`no output from ${cmd.join(' ')} in ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      const onData = (d: Buffer): void => {
        stdout += d.toString();
        const nl = stdout.indexOf('\n');
        if (nl < 0) return;
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        clearTimeout(timer);
        resolve({ child, line: stdout.slice(0, nl) });
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${cmd.join(' ')} exited with ${code}: ${stderr}`));
      });
    });
  }

  /** A fault server (test/fixtures/doctor/fault-server.mjs) in the namespace; `prefix` e.g. prlimit. */
  async faultServer(opts: Record<string, unknown>, prefix: string[] = []): Promise<{ port: number; pid: number; child: ChildProcess }> {
    const { child, line } = await this.start([...prefix, process.execPath, faultServerPath, JSON.stringify(opts)]);
    const { port, pid } = JSON.parse(line) as { port: number; pid: number };
    return { port, pid, child };
  }

  /** Runs the real `floodgate bench … --json` in the namespace; resolves with its exit code and parsed result. */
  bench(args: string[], prefix: string[] = [], timeoutMs = 90_000): Promise<{ status: number | null; result: BenchResult; stderr: string }> {
    const child = spawn('ip', ['netns', 'exec', this.name, ...prefix, process.execPath, cliPath, 'bench', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.groups.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => killGroup(child), timeoutMs);
      child.on('close', (status) => {
        clearTimeout(timer);
        try {
          resolve({ status, result: JSON.parse(stdout) as BenchResult, stderr });
        } catch {
          reject(new Error(`bench exited ${status} without a JSON result: ${stderr}\n${stdout.slice(0, 2000)}`));
        }
      });
    });
  }

  /**
   * A veth pair between this namespace (`10.211.0.2`) and `server` (`10.211.0.1`): a real link, for
   * faults tc netem injects. The addresses exist only inside the two namespaces; the veth names are
   * random (interface names are per namespace, but they are created in the host's first).
   */
  linkTo(server: Netns): { serverIp: string; clientIp: string; clientDev: string } {
    const tag = randomBytes(3).toString('hex');
    const [a, b] = [`fgv${tag}s`, `fgv${tag}c`];
    execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    execFileSync('ip', ['link', 'set', a, 'netns', server.name]);
    execFileSync('ip', ['link', 'set', b, 'netns', this.name]);
    execFileSync('ip', ['-n', server.name, 'addr', 'add', '10.211.0.1/30', 'dev', a]);
    execFileSync('ip', ['-n', this.name, 'addr', 'add', '10.211.0.2/30', 'dev', b]);
    execFileSync('ip', ['-n', server.name, 'link', 'set', a, 'up']);
    execFileSync('ip', ['-n', this.name, 'link', 'set', b, 'up']);
    return { serverIp: '10.211.0.1', clientIp: '10.211.0.2', clientDev: b };
  }

  /** Kills every process group this namespace started and waits for them, then deletes the namespace (and its veth ends). */
  async close(): Promise<void> {
    await Promise.all(this.groups.map(stop));
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/** Kills a process group we started and waits for its leader. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    killGroup(child);
    return;
  }
  const gone = new Promise((r) => child.once('exit', r));
  killGroup(child);
  await gone;
}

/** The number in "backlog ≥ N" (or "fd limit to ≥ N", "somaxconn … to ≥ N") of a fix. */
export function sizeIn(fix: string | undefined, re: RegExp): number {
  const m = re.exec(fix ?? '');
  if (!m) throw new Error(`no size matching ${re} in fix: ${fix}`);
  return Number(m[1].replace(/,/g, ''));
}
