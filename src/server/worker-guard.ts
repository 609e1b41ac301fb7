import { WORKER_PLAN_ENV } from './worker-plan.js';

/** How often a worker checks that its primary is still its parent. */
const PARENT_CHECK_MS = 500;

/**
 * A `serve --workers N` worker must never outlive its primary, at any stage of its startup: an
 * orphaned worker keeps the port, and holds the pipes of whoever started the primary (a test
 * runner, a supervisor) open. Node's cluster setup already exits a worker whose IPC channel
 * closes unexpectedly; this adds two independent signals as early as our code runs (the first
 * import of the CLI): the channel's `disconnect`, and the parent pid changing (the worker was
 * reparented, so the primary is gone even if the channel's close was not seen). Exits with 1:
 * nothing was shut down gracefully, and the sockets go with the process.
 */
export function exitWithPrimary(env: NodeJS.ProcessEnv = process.env): boolean {
  if (!env[WORKER_PLAN_ENV] || typeof process.send !== 'function') return false;
  const primary = process.ppid;
  const gone = (why: string): void => {
    process.stderr.write(`floodgate worker ${process.pid}: ${why}; exiting\n`);
    process.exit(1);
  };
  process.once('disconnect', () => gone('the primary closed the IPC channel (it exited)'));
  const timer = setInterval(() => {
    if (process.ppid !== primary) gone(`the primary (pid ${primary}) is gone`);
  }, PARENT_CHECK_MS);
  timer.unref();
  return true;
}
