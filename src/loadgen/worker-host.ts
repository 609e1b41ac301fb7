import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { runWorker } from './worker.js';
import type { ParentMessage, WorkerMessage } from './worker-messages.js';

/** The worker module next to this one (.ts under tsx, .js from dist). */
const WORKER_PATH = fileURLToPath(new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

/**
 * What the coordinator needs from a worker, whether it is a forked process or runs in the
 * coordinator's own process: the subset of ChildProcess that run.ts uses.
 */
export interface WorkerHost {
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly connected: boolean;
  send(m: ParentMessage): void;
  disconnect(): void;
  kill(signal: NodeJS.Signals): void;
  on(event: 'message', fn: (m: WorkerMessage) => void): this;
  on(event: 'exit', fn: (code: number | null) => void): this;
  once(event: 'message', fn: (m: WorkerMessage) => void): this;
  once(event: 'exit', fn: (code: number | null) => void): this;
}

/**
 * Workers run with a 1 MiB young generation. A worker allocates little per connection but holds
 * thousands, and V8's default young generation grows to 32 MiB per process, which is several KB
 * per held connection for nothing: measured here, RSS per held connection fell from ~7.0 to
 * ~4.7 KB with no measurable CPU change (benchmarks/loadgen). A size set by the caller wins.
 */
function workerExecArgv(): string[] {
  const set = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('--max-semi-space-size'));
  return set ? process.execArgv : [...process.execArgv, '--max-semi-space-size=1'];
}

export function forkWorker(index: number): WorkerHost {
  return fork(WORKER_PATH, [], {
    execArgv: workerExecArgv(),
    env: { ...process.env, FLOODGATE_BENCH_WORKER: '1', FLOODGATE_BENCH_WORKER_INDEX: String(index) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  }) as ChildProcess & WorkerHost;
}

/**
 * The single worker of a run small enough for one process, inside the coordinator: no second
 * Node process (its ~45 MB idle footprint) and no IPC per tick. Messages are handed over on the
 * next turn of the loop, as IPC would, so the coordinator sees the same order of events.
 */
export class InProcessWorker extends EventEmitter implements WorkerHost {
  readonly pid = process.pid;
  exitCode: number | null = null;
  readonly signalCode = null;
  connected = true;
  private handle: { stop: () => void } | undefined;

  constructor(private readonly index: number) {
    super();
    setImmediate(() => this.emit('message', { type: 'ready', worker: this.index } satisfies WorkerMessage));
  }

  send(m: ParentMessage): void {
    if (!this.connected) return;
    if (m.type === 'start') this.handle = runWorker(m.config, (msg) => setImmediate(() => this.emit('message', msg)));
    else if (m.type === 'stop') this.handle?.stop();
  }

  disconnect(): void {
    this.connected = false;
    this.exitCode = 0;
  }

  /** Stands for killing a process: stop the worker's share, its connections are reset. */
  kill(): void {
    this.handle?.stop();
  }
}
