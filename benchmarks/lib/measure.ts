/**
 * Small helpers the benchmark suites share: a free loopback port, a process's CPU time from
 * /proc, a promise with a ceiling (every wait in a suite is bounded, so a run stops by itself),
 * and the port a started server reports.
 * This folder has no run.ts, so `npm run bench` does not take it for a suite.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A port that was free on 127.0.0.1 a moment ago (the kernel picked it): the tests' helper. */
export { freePort } from '../../test/helpers/redis-server.js';

/**
 * User + system CPU seconds of one process (utime and stime of /proc/<pid>/stat, in 10 ms ticks).
 * Throws when the process is gone: a server or worker that died mid-run must fail the run, not read as 0 CPU.
 */
export function cpuSeconds(pid: number): number {
  let f: string;
  try {
    f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the CPU time of pid ${pid} (did the process die?): ${(err as Error).message}`);
  }
  // fields after the command name, which may itself hold spaces and parentheses
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[11]) + Number(x[12])) / 100;
}

/** `p`, or a rejection naming `what` once `ms` have passed. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`${what} not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/**
 * The port a server started by a suite listens on, from the first line of its stdout that is JSON
 * with `listen.port` (`floodgate serve --log-format json` prints its startup report so, and the
 * baseline servers print `{"event":"listening","listen":{"port":…}}`). Rejects when the process
 * exits first or after `ms`. Later output is read and dropped, so the pipe never fills.
 */
export function listeningPort(child: ChildProcess, what: string, ms = 60_000): Promise<number> {
  let onData: ((c: Buffer) => void) | undefined;
  let onExit: ((code: number | null) => void) | undefined;
  const port = new Promise<number>((resolve, reject) => {
    let buf = '';
    onData = (c) => {
      buf += c;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let p: unknown;
        try {
          p = (JSON.parse(line) as { listen?: { port?: unknown } }).listen?.port;
        } catch {
          continue; // not JSON: a line before the report
        }
        if (typeof p === 'number' && p > 0) return resolve(p);
      }
    };
    onExit = (code) => reject(new Error(`${what} exited (code ${code}) before it listened`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  return bounded(port, ms, `${what}: listening`).finally(() => {
    child.stdout!.off('data', onData!);
    child.off('exit', onExit!);
    child.stdout!.resume();
  });
}
