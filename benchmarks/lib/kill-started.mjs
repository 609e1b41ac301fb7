// A benchmark suite starts servers in their own process groups (redis-server, gateways, peers),
// so when the suite itself is killed from outside (Ctrl-C, SIGTERM, the runner's timeout) they
// would outlive it. Two halves, both here:
//   - inside a suite: killStartedOnExit() kills every process the suite started (its descendants
//     and their process groups) on exit and on SIGINT/SIGTERM/SIGHUP. scripts/run-benchmarks.mjs
//     preloads it into every suite (kill-started-on-exit.mjs), so suites need not call it.
//   - in the runner: runSuite() starts a suite in its own process group and, on a timeout or an
//     abort, SIGTERMs that group, then SIGKILLs whatever of the suite's tree is left.
// Plain JavaScript, so the runner (run by node without tsx) and the suites share it.
// This folder has no run.ts, so `npm run bench` does not take it for a suite.
import { spawn } from 'node:child_process';
import { descendants, killAll, processTable } from '../../scripts/process-tree.mjs';

const SIGNALS = /** @type {const} */ ([['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]);

/** SIGKILLs every process this one started (descendants and their groups, never our own group); returns their pids. */
export function killStarted() {
  const table = processTable();
  return killAll(descendants(process.pid, table), table);
}

let installed = false;

/**
 * Kills what this process started when it exits and when it gets SIGINT, SIGTERM or SIGHUP. After a
 * signal it exits with 128 + the signal's number, unless the suite has its own handler for that
 * signal (that handler then decides when to exit, e.g. after removing network namespaces).
 */
export function killStartedOnExit() {
  if (installed) return;
  installed = true;
  process.on('exit', () => killStarted());
  for (const [signal, number] of SIGNALS) {
    const onSignal = () => {
      killStarted();
      if (process.listenerCount(signal) <= 1) process.exit(128 + number);
    };
    process.on(signal, onSignal);
  }
}

/**
 * Runs `node <args>` as a suite in its own process group; stdout is collected (and passed to
 * `onStdout` as it comes), stderr is inherited. Past `timeoutMs`, or when `signal` aborts, the
 * suite's group gets SIGTERM and `graceMs` to exit, then every process of the suite's tree (as
 * seen before the SIGTERM, plus anything still under it) is SIGKILLed with its process group.
 * Resolves with the exit code or signal and whether the run was cut (`stopped`).
 *
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs: number, graceMs?: number, signal?: AbortSignal, onStdout?: (chunk: string) => void }} options
 * @returns {Promise<{ status: number | null, signal: NodeJS.Signals | null, stdout: string, stopped: 'timeout' | 'aborted' | undefined }>}
 */
export function runSuite(args, { cwd, env, timeoutMs, graceMs = 15_000, signal, onStdout }) {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c) => {
    stdout += c;
    onStdout?.(c);
  });
  /** @type {'timeout' | 'aborted' | undefined} */
  let stopped;
  const exited = new Promise((resolve) => child.once('close', (status, sig) => resolve({ status, signal: sig })));
  const stop = async (why) => {
    if (stopped !== undefined || child.exitCode !== null || child.signalCode !== null) return;
    stopped = why;
    const tree = descendants(child.pid);
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // the group is gone already
    }
    let graceTimer;
    await Promise.race([exited, new Promise((r) => (graceTimer = setTimeout(r, graceMs)))]);
    clearTimeout(graceTimer);
    const table = processTable();
    const alive = child.exitCode === null && child.signalCode === null;
    killAll([...new Set([...tree, ...(alive ? [...descendants(child.pid, table), child.pid] : [])])], table);
  };
  const timer = setTimeout(() => void stop('timeout'), timeoutMs);
  const onAbort = () => void stop('aborted');
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return exited.then(({ status, signal: sig }) => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    return { status, signal: sig, stdout, stopped };
  });
}
