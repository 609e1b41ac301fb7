import { Socket } from 'node:net';

/**
 * `serve --workers N`: a worker that holds its whole cap when it accepts a connection hands the
 * socket, still unread, to another worker through the primary, instead of answering 503 while
 * the machine has room. With the shared socket (the default balance) the kernel gives each
 * connection to whichever worker accepts first, so the spread is not even; at 100,000
 * connections over 6 workers of 19,936 fds each, a worker that drew more than its share would
 * otherwise refuse clients that another worker could hold. Only the overflow pays the IPC round
 * trip: below the cap nothing here runs.
 *
 * The socket travels as its native TCP handle (the primary never wraps it in a net.Socket, which
 * would start reading the request in the primary). `tried` lists the workers that were full, so
 * a connection visits each worker at most once; the last one admits it as usual (queue, then 503).
 */

export interface HandoffMessage {
  fg: 'handoff';
  /** give: worker → primary (find it another worker); take: primary → worker (adopt it). */
  t: 'give' | 'take';
  /** Indices of the workers that were full when the socket reached them. */
  tried: number[];
}

export function isHandoffMessage(m: unknown): m is HandoffMessage {
  return typeof m === 'object' && m !== null && (m as HandoffMessage).fg === 'handoff' && Array.isArray((m as HandoffMessage).tried);
}

/** A native handle as child_process passes it (cluster's round-robin passes the same kind). */
interface NativeHandle {
  close(): void;
}

/** The libuv handle of a net.Socket: public in all but name. */
interface WithHandle {
  _handle: NativeHandle | null;
}

/**
 * Sends `handle` with `m`, then closes this process's copy once it is written: the fd in flight
 * holds its own reference from sendmsg() on, and child_process does not close a native handle
 * it sent (it may queue the message behind an earlier handle, so not before the callback).
 */
export type SendHandle = (m: HandoffMessage, handle: NativeHandle, written: (err: Error | null) => void) => void;

/**
 * Worker side. `give(socket, tried)` sends an accepted, paused, unread socket to the primary and
 * forgets it here (true), or declines (false: no IPC channel, or no worker left to try) so the
 * caller serves it itself. Sockets the primary hands over arrive through `onTake`.
 */
export class WorkerHandoff {
  constructor(
    private readonly index: number,
    private readonly workers: number,
    private readonly send: SendHandle,
    private readonly connected: () => boolean,
  ) {}

  give(socket: Socket, tried: readonly number[]): boolean {
    const handle = (socket as unknown as WithHandle)._handle;
    if (handle === null || socket.destroyed || !this.connected()) return false;
    const next = [...tried, this.index];
    if (next.length >= this.workers) return false; // every other worker was full too
    try {
      this.send({ fg: 'handoff', t: 'give', tried: next }, handle, () => handle.close());
    } catch {
      return false;
    }
    // the handle is closed once written (above); the socket object lets go of it and goes away
    (socket as unknown as WithHandle)._handle = null;
    socket.destroy();
    return true;
  }

  /** Wraps a handle the primary handed over as a paused socket, as the listener would have. */
  static adopt(handle: unknown): Socket {
    return new Socket({ handle: handle as never, readable: true, writable: true, pauseOnCreate: true } as ConstructorParameters<typeof Socket>[0]);
  }
}

/** A worker the primary can hand a socket to. */
export interface HandoffTarget {
  index: number;
  connected: boolean;
  send: SendHandle;
}

/**
 * Primary side: picks the next worker, round-robin, that is not in `tried`. The handle is sent
 * on and closed here once the worker has it (child_process does both); with no worker to take
 * it, it is closed (the client sees the connection end, as it would if the worker had died).
 */
export class HandoffRelay {
  private next = 0;

  constructor(private readonly targets: () => HandoffTarget[]) {}

  relay(m: HandoffMessage, handle: NativeHandle | undefined): number | undefined {
    if (handle === undefined) return undefined;
    const list = this.targets().filter((w) => w.connected && !m.tried.includes(w.index));
    if (list.length === 0) {
      handle.close();
      return undefined;
    }
    const target = list[this.next++ % list.length];
    try {
      target.send({ fg: 'handoff', t: 'take', tried: m.tried }, handle, () => handle.close());
    } catch {
      handle.close();
      return undefined;
    }
    return target.index;
  }
}
