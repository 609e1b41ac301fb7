import { readSysctl } from '../system/proc-files.js';

/**
 * Local ports chosen by the generator for connections bound to a source address (`--source-ips`).
 *
 * Why: `bind()` to an address with port 0 makes the kernel search the ephemeral range for a port
 * that conflicts with no socket bound there, and that search walks the bound sockets: its cost
 * grows with the connections already held on the address, so a run's bind cost grows with the
 * square of its size. Profiled here at 10,000 connections from one source address, the kernel's
 * bind conflict checks (`inet_bhash2_conflict`, `inet_csk_bind_conflict`) were ~60 % of the whole
 * generator's CPU. Binding to a port named by the caller is one hash lookup (Linux's
 * IP_BIND_ADDRESS_NO_PORT would avoid the search too, but Node does not expose it).
 *
 * The ports are the kernel's own ephemeral range (`net.ipv4.ip_local_port_range`, minus
 * `ip_local_reserved_ports`), handed out round-robin per source address from a random starting
 * point (so that several generator processes on one machine do not all walk the same ports);
 * worker `w` of `W` takes the ports congruent to `w` modulo `W`, so worker processes of one run
 * never pick the same one. A chosen port
 * can still be taken (another program, a connection of this run still held after the cursor
 * wrapped, TIME_WAIT toward the same destination): the attempt then falls back to the kernel's
 * choice (port 0), so whatever fails is the kernel's own verdict, as without chosen ports. After
 * MAX_MISSES fallbacks in a row on an address, the kernel chooses there for the rest of the run.
 */
export const MAX_MISSES = 16;

interface Cursor {
  next: number;
  misses: number;
}

export class LocalPorts {
  private readonly ports: Uint16Array;
  private readonly cursors = new Map<string, Cursor>();

  /**
   * `range` [low, high] inclusive; `reserved` ports are skipped; each address starts at `start()`
   * (an index into this worker's ports, random by default).
   */
  constructor(
    range: [number, number],
    worker: number,
    workers: number,
    reserved: ReadonlySet<number> = new Set(),
    private readonly start: (size: number) => number = (size) => Math.floor(Math.random() * size),
  ) {
    const list: number[] = [];
    for (let p = range[0] + worker; p <= range[1]; p += workers) if (!reserved.has(p)) list.push(p);
    this.ports = Uint16Array.from(list);
  }

  /** This machine's range and reserved ports, or undefined where they cannot be read (not Linux). */
  static forWorker(worker: number, workers: number): LocalPorts | undefined {
    const m = /^(\d+)\s+(\d+)$/.exec(readSysctl('net.ipv4.ip_local_port_range') ?? '');
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = Number(m[2]);
    if (!(lo >= 1 && hi <= 65535 && lo <= hi)) return undefined;
    const ports = new LocalPorts([lo, hi], worker, workers, parseReservedPorts(readSysctl('net.ipv4.ip_local_reserved_ports') ?? ''));
    return ports.size > 0 ? ports : undefined;
  }

  get size(): number {
    return this.ports.length;
  }

  /** The next port to bind on `address`, or undefined: let the kernel choose. */
  take(address: string): number | undefined {
    let c = this.cursors.get(address);
    if (!c) this.cursors.set(address, (c = { next: this.start(this.ports.length) % this.ports.length, misses: 0 }));
    if (c.misses >= MAX_MISSES) return undefined;
    const p = this.ports[c.next];
    c.next = c.next + 1 === this.ports.length ? 0 : c.next + 1;
    return p;
  }

  /** A chosen port on `address` was taken: the attempt went to the kernel's choice. */
  missed(address: string): void {
    const c = this.cursors.get(address);
    if (c) c.misses++;
  }

  /** A chosen port on `address` connected. */
  hit(address: string): void {
    const c = this.cursors.get(address);
    if (c) c.misses = 0;
  }
}

/** `net.ipv4.ip_local_reserved_ports`: "8080,9000-9010" (empty when none). */
export function parseReservedPorts(text: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let p = a; p <= b && p <= 65535; p++) out.add(p);
  }
  return out;
}
