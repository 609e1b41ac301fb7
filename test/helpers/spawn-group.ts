import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * Every process a test starts goes through here. It runs in its own process group
 * (`detached: true`), and stopping it kills the whole group: a `serve --workers 2` primary
 * killed alone used to leave its workers holding the runner's pipes. Groups still alive when
 * the test file's process exits (a failed assertion before the cleanup, a crash) are killed by
 * an exit hook, so nothing outlives the file that started it.
 */
const live = new Set<number>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const pgid of live) killGroup(pgid, 'SIGKILL');
  });
}

/**
 * For a test that calls spawn() itself: pass `detached: true` and register the pid here, so the
 * exit hook kills its group too. `stopGroup` kills it and waits.
 */
export function trackGroup<T extends ChildProcess>(child: T): T {
  hookExit();
  if (child.pid !== undefined) live.add(child.pid);
  return child;
}

/** SIGKILLs the group of a child started with `detached: true` and waits for the leader's exit. */
export async function stopGroup(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.pid === undefined) return;
  const gone = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
  killGroup(child.pid, 'SIGKILL');
  live.delete(child.pid);
  await gone;
}

/** Signals a whole process group; false when it is already gone. */
export function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class GroupProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(readonly child: ReturnType<typeof spawn>, readonly name: string) {
    const onData = (which: 'stdout' | 'stderr') => (c: Buffer) => {
      this[which] += c.toString();
      for (const w of this.waiters) w();
    };
    (child.stdout as Readable | null)?.on('data', onData('stdout'));
    (child.stderr as Readable | null)?.on('data', onData('stderr'));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        for (const w of this.waiters) w();
        resolve(this.exit);
      });
      child.once('error', (err) => {
        this.stderr += `\nspawn failed: ${err.message}\n`;
        this.exit = { code: null, signal: null };
        live.delete(this.pid);
        for (const w of this.waiters) w();
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Still running (the group leader; its group may hold more). */
  get alive(): boolean {
    return this.exit === undefined;
  }

  get exitCode(): number | null | undefined {
    return this.exit?.code;
  }

  /** The last part of both streams, for error messages. */
  tail(chars = 2000): string {
    return `stdout: ${this.stdout.slice(-chars)}\nstderr: ${this.stderr.slice(-chars)}`;
  }

  /**
   * Resolves when `test` holds on the output (checked on every chunk, not by polling); rejects
   * when the process exits first, or after `timeoutMs` — a ceiling for a busy machine, not an
   * expectation of how long it takes.
   */
  waitFor(test: RegExp | ((p: GroupProcess) => boolean), timeoutMs = 90_000, what = String(test)): Promise<void> {
    const ok = typeof test === 'function' ? () => test(this) : () => test.test(this.stdout) || test.test(this.stderr);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        let err: Error | undefined;
        if (ok()) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve();
          return;
        }
        if (this.exit) err = new Error(`${this.name} exited (code ${this.exit.code}, signal ${this.exit.signal}) before ${what}\n${this.tail()}`);
        if (err) {
          this.waiters.delete(check);
          clearTimeout(timer);
          reject(err);
        }
      };
      timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.name} did not show ${what} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Signals the whole group. */
  signal(signal: NodeJS.Signals): boolean {
    return killGroup(this.pid, signal);
  }

  /**
   * Sends `signal` to the group leader only (its own shutdown path runs), waits for it to exit,
   * SIGKILLs the group after `graceMs`, and in every case SIGKILLs what is left of the group.
   * Returns the leader's exit code (null when killed by a signal).
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<number | null> {
    if (this.alive) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // exited meanwhile
      }
      const timer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.kill();
    return this.exit?.code ?? null;
  }

  /** SIGKILL to the whole group, now; waits for the leader. */
  async killNow(): Promise<Exit> {
    this.kill();
    return this.exited;
  }

  private kill(): void {
    killGroup(this.pid, 'SIGKILL');
    live.delete(this.pid);
  }
}

/** Starts `cmd` in its own process group, output captured, registered for cleanup on exit. */
export function spawnGroup(cmd: string, args: string[], options: SpawnOptions & { name?: string } = {}): GroupProcess {
  hookExit();
  const { name, ...rest } = options;
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...rest, detached: true });
  if (child.pid !== undefined) live.add(child.pid);
  return new GroupProcess(child, name ?? cmd);
}
