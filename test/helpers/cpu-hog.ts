import { spawn, type ChildProcess } from 'node:child_process';

/**
 * CPU-burning processes, one per core asked for, each bounded by `timeout` (coreutils) so that
 * nothing outlives a crashed test, each in its own process group, killed by PID in stop().
 */
export class CpuHog {
  private readonly children: ChildProcess[] = [];

  start(cores: number, maxSeconds: number): void {
    for (let i = 0; i < cores; i++) {
      const child = spawn('timeout', ['-s', 'KILL', String(maxSeconds), process.execPath, '-e', 'for (;;) {}'], { stdio: 'ignore', detached: true });
      child.unref();
      this.children.push(child);
    }
  }

  stop(): void {
    for (const child of this.children.splice(0)) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      try {
        process.kill(-child.pid, 'SIGKILL'); // its group: timeout and the node it runs
      } catch {
        /* already gone */
      }
    }
  }
}
