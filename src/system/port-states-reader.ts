import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { readProcFile } from './proc-files.js';
import { parseSsRows, readPortStates, ssFilter, tcpSocketsInNetns, type PortStateCount } from './socket-states.js';

/** One read of a port's socket states. */
export interface PortStatesRead {
  counts: PortStateCount;
  /**
   * ESTABLISHED was counted. A read without it (sock_diag only) leaves those rows out in the
   * kernel: with thousands of connections held they are nearly all of the rows, and of the cost.
   */
  established: boolean;
  via: 'sock_diag' | 'proc';
  /** CPU the read cost, ms: this process's part plus the helper's (the `ss` it ran included). */
  cpuMs: number;
}

/**
 * Sockets in the namespace above which sock_diag (`ss` run by the helper) is the cheaper read: a
 * /proc read formats every socket of the namespace (~6 µs each here, with tcp6 walking the IPv4
 * ones too), a helper read costs one `ss` process (11–19 ms here, nearly all of it exec and
 * dynamic linking) plus the port's own rows.
 */
export const HELPER_ABOVE_SOCKETS = 2000;

/** Longest a helper read may take before the helper is given up for /proc. */
const HELPER_TIMEOUT_MS = 30_000;

/**
 * Reads one port's TCP states again and again, as a run's evidence needs, at the least CPU:
 * - through sock_diag with the port and address filter compiled into the request, so only the
 *   port's rows come back, and without ESTABLISHED when asked (`read(false)`);
 * - through a small `sh` kept alive for the run that runs `ss` on request: `ss` forked from this
 *   process would cost in proportion to its memory (page tables copied: ~28 ms CPU per read at
 *   350 MB, more than `ss` itself);
 * - through /proc/net/tcp{,6} when the namespace holds few sockets, or when `ss` cannot run (not
 *   installed, no netlink): always every state there.
 * The helper ends when close() is called or this process exits (its stdin closes).
 */
export class PortStatesReader {
  private helper?: SsHelper;
  private helperFailed: boolean;
  private readonly filter: string;
  private readonly via?: 'sock_diag' | 'proc';

  /**
   * `via`: always that way (sock_diag still falls back to /proc when `ss` cannot run); by default
   * the cheaper one for the sockets the namespace holds at each read (HELPER_ABOVE_SOCKETS).
   */
  constructor(readonly port: number, readonly address?: string, opts: { via?: 'sock_diag' | 'proc' } = {}) {
    this.filter = ssFilter(port, address);
    this.via = opts.via;
    this.helperFailed = opts.via === 'proc' || process.platform !== 'linux';
  }

  private queue: Promise<unknown> = Promise.resolve();

  /**
   * The port's states now; `established: false` may leave ESTABLISHED out (see PortStatesRead);
   * `backlog: true` reads through sock_diag when `ss` can run, whatever the namespace holds, for
   * the listener's backlog (`counts.listenBacklog`). Reads asked for while one is under way run
   * one after another.
   */
  read(established = true, opts: { backlog?: boolean } = {}): Promise<PortStatesRead> {
    const r = this.queue.then(() => this.readNow(established, opts.backlog === true));
    this.queue = r.catch(() => undefined);
    return r;
  }

  private async readNow(established: boolean, backlog: boolean): Promise<PortStatesRead> {
    // the listener's backlog is only in sock_diag's answer: asked for, that way whatever it costs
    if (!this.helperFailed && (backlog || this.via === 'sock_diag' || (tcpSocketsInNetns() ?? Infinity) > HELPER_ABOVE_SOCKETS)) {
      this.helper ??= new SsHelper(this.filter);
      const r = await this.helper.query(established);
      if (r) {
        const c0 = process.cpuUsage();
        const counts = parseSsRows(r.text, this.port);
        const own = process.cpuUsage(c0);
        return { counts, established, via: 'sock_diag', cpuMs: r.cpuMs + (own.user + own.system) / 1000 };
      }
      this.helperFailed = true;
      void this.helper.close();
    }
    const c0 = process.cpuUsage();
    const counts = readPortStates(this.port, undefined, this.address);
    const own = process.cpuUsage(c0);
    return { counts, established: true, via: 'proc', cpuMs: (own.user + own.system) / 1000 };
  }

  /** Ends the helper and waits for it, so that its CPU is in this process's children's. */
  async close(): Promise<void> {
    this.helperFailed = true;
    await this.helper?.close();
  }
}

/**
 * `sh` reading one word a line on stdin (`all`, or anything else for all but ESTABLISHED) and
 * answering with the `ss` rows and an end line. Its CPU, and the CPU of every `ss` it waited for,
 * is in its /proc stat: read after each answer, it is what that read cost.
 */
class SsHelper {
  private readonly child: ChildProcess;
  private chunks: string[] = [];
  /** The last characters received, where an end line split across two chunks begins. */
  private tail = '';
  private waiting?: { resolve: (r: { text: string; cpuMs: number } | undefined) => void; timer: NodeJS.Timeout };
  private cpuSoFar = 0;
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(filter: string) {
    const script = 'while read -r q; do if [ "$q" = all ]; then ss -tanH "$1"; else ss -tanH exclude established "$1"; fi; echo "#fg-end $?"; done';
    this.child = spawn('/bin/sh', ['-c', script, 'floodgate-ss', filter], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.exit = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.once('error', () => {
      // no process (no /bin/sh), or one that cannot be signalled: nothing to wait for
      this.exited = true;
      this.fail();
    });
    this.child.once('exit', () => {
      this.exited = true;
      this.fail();
    });
    (this.child.stdin as Writable).on('error', () => this.fail());
    const out = this.child.stdout as Readable & { ref(): void; unref(): void };
    out.setEncoding('latin1');
    out.on('data', (d: string) => this.onData(d));
    // idle, the helper must not keep a finished process alive
    this.idle();
  }

  query(established: boolean): Promise<{ text: string; cpuMs: number } | undefined> {
    if (this.exited || this.waiting) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.fail(), HELPER_TIMEOUT_MS);
      this.waiting = { resolve, timer };
      this.busy();
      (this.child.stdin as Writable).write(established ? 'all\n' : 'light\n');
    });
  }

  /**
   * Collects an answer: chunks are kept apart and joined once (a held run's answer is a megabyte
   * or more, and searching a growing string on every chunk copies it again each time); the end
   * line is looked for in the new chunk and the last characters before it.
   */
  private onData(d: string): void {
    const probe = this.tail + d;
    const at = probe.indexOf('#fg-end ');
    if (at < 0 || probe.indexOf('\n', at) < 0) {
      this.chunks.push(d);
      this.tail = probe.slice(-32);
      return;
    }
    const all = this.chunks.join('') + d;
    this.chunks = [];
    this.tail = '';
    const end = all.lastIndexOf('#fg-end ');
    const status = all.slice(end + 8, all.indexOf('\n', end));
    const cpu = helperCpuMs(this.child.pid);
    const cpuMs = cpu === undefined ? 0 : cpu - this.cpuSoFar;
    if (cpu !== undefined) this.cpuSoFar = cpu;
    this.settle(status === '0' ? { text: all.slice(0, end), cpuMs } : undefined);
  }

  private settle(r: { text: string; cpuMs: number } | undefined): void {
    const w = this.waiting;
    if (!w) return;
    this.waiting = undefined;
    clearTimeout(w.timer);
    this.idle();
    w.resolve(r);
  }

  private fail(): void {
    this.settle(undefined);
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private busy(): void {
    (this.child.stdout as Readable & { ref(): void }).ref();
    this.child.ref();
  }

  private idle(): void {
    (this.child.stdout as Readable & { unref(): void }).unref();
    (this.child.stdin as Writable & { unref?(): void }).unref?.();
    this.child.unref();
  }

  async close(): Promise<void> {
    this.settle(undefined);
    if (this.exited) return;
    (this.child.stdin as Writable).end();
    this.busy();
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([this.exit.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), 2000)))]);
    clearTimeout(timer);
    if (!gone) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exit, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  }
}

/** A process's CPU plus that of the children it waited for (utime + stime + cutime + cstime), ms. */
function helperCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10; // USER_HZ = 100
}
