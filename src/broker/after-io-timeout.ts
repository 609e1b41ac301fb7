/**
 * A deadline for a Redis command that is judged after this process has read its sockets.
 *
 * A process starved of CPU (a CPU hog on the box, a long GC pause, a burst of synchronous work)
 * runs its due timers before it polls its sockets when it wakes. A plain timeout — ioredis's
 * `commandTimeout` is one — then fails a command whose answer is already waiting in the socket,
 * and a healthy Redis looks like an outage: publishes answered "outcome unknown", recoveries
 * answered `unavailable`. Here the timer only schedules the verdict for the check phase of the
 * same loop turn (setImmediate), after the poll phase has read what arrived.
 */
export class CommandTimeoutError extends Error {
  override readonly name = 'CommandTimeoutError';
}

export function afterIoTimeout<T>(command: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new CommandTimeoutError(`${what}: no answer from Redis within ${ms} ms`));
      });
    }, ms);
    command.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
