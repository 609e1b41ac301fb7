/**
 * A deadline for a Redis command that is judged after this process has read its sockets.
 *
 * A process starved of CPU (a CPU hog on the box, a long GC pause, a burst of synchronous work)
 * runs its due timers before it polls its sockets when it wakes. A plain timeout — ioredis's
 * `commandTimeout` is one — then fails a command whose answer is already waiting in the socket,
 * and a healthy Redis looks like an outage: publishes answered "outcome unknown", recoveries
 * answered `unavailable`. Here the timer only schedules the verdict for the check phase of the
 * same loop turn (setImmediate), after the poll phase has read what arrived.
 *
 * With `lastReplyAt` (performance.now() of the last bytes read from that connection), the
 * deadline counts Redis's silence, not the command's age: replies come in order on a connection,
 * so while bytes keep arriving the commands ahead of this one are being answered (a failover
 * burst of large recovery reads, a Redis slowed by a busy box) and this one is on its way.
 */
export class CommandTimeoutError extends Error {
  override readonly name = 'CommandTimeoutError';
}

export function afterIoTimeout<T>(command: Promise<T>, ms: number, what: string, lastReplyAt?: () => number): Promise<T> {
  const sentAt = performance.now();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout;
    const judge = (): void => {
      setImmediate(() => {
        if (settled) return;
        const silent = performance.now() - Math.max(sentAt, lastReplyAt?.() ?? 0);
        if (silent < ms) {
          timer = setTimeout(judge, ms - silent);
          return;
        }
        settled = true;
        reject(new CommandTimeoutError(`${what}: nothing from Redis for ${ms} ms`));
      });
    };
    timer = setTimeout(judge, ms);
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
