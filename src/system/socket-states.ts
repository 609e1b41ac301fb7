import { spawnSync } from 'node:child_process';
import { isIP } from 'node:net';
import { closeSync, openSync, readSync } from 'node:fs';
import { readProcFile } from './proc-files.js';

/** Kernel TCP state numbers as printed in /proc/net/tcp (include/net/tcp_states.h). */
export const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
  '0C': 'NEW_SYN_RECV',
};

export interface TcpSocket {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  state: string;
  /** For LISTEN sockets: current accept-queue length. */
  rxQueue: number;
  txQueue: number;
  inode: number;
}

function decodeIPv4(hex: string): string {
  // /proc prints the address as a host-order (little-endian on x86) 32-bit word
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

function decodeIPv6(hex: string): string {
  const groups: string[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    // each 32-bit word is host-order
    const bytes = word.match(/../g)!.reverse().join('');
    groups.push(bytes.slice(0, 4), bytes.slice(4, 8));
  }
  const full = groups.map((g) => g.replace(/^0+(?=.)/, '')).join(':');
  if (full.startsWith('0:0:0:0:0:ffff:')) {
    const v4 = groups.slice(6).join('');
    return [0, 2, 4, 6].map((i) => Number.parseInt(v4.slice(i, i + 2), 16)).join('.');
  }
  return full.replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** Parses /proc/net/tcp or /proc/net/tcp6. */
export function parseProcNetTcp(text: string): TcpSocket[] {
  const out: TcpSocket[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 10) continue;
    const [la, lp] = f[1].split(':');
    const [ra, rp] = f[2].split(':');
    const [tx, rx] = f[4].split(':');
    const decode = la.length > 8 ? decodeIPv6 : decodeIPv4;
    out.push({
      localAddress: decode(la),
      localPort: Number.parseInt(lp, 16),
      remoteAddress: decode(ra),
      remotePort: Number.parseInt(rp, 16),
      state: TCP_STATES[f[3]] ?? f[3],
      txQueue: Number.parseInt(tx, 16),
      rxQueue: Number.parseInt(rx, 16),
      inode: Number.parseInt(f[9], 10),
    });
  }
  return out;
}

export function readTcpSockets(pidNetDir = '/proc/net'): TcpSocket[] {
  return [
    ...parseProcNetTcp(readProcFile(`${pidNetDir}/tcp`) ?? ''),
    ...parseProcNetTcp(readProcFile(`${pidNetDir}/tcp6`) ?? ''),
  ];
}

export interface StateCountOptions {
  /** Count only sockets whose local or remote port is this one. */
  port?: number;
}

export function countSocketStates(sockets: TcpSocket[], opts: StateCountOptions = {}): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of sockets) {
    if (opts.port !== undefined && s.localPort !== opts.port && s.remotePort !== opts.port) continue;
    counts[s.state] = (counts[s.state] ?? 0) + 1;
  }
  return counts;
}

export interface PortStateCount {
  /** Sockets whose local or remote port is the port (every socket without a port), by state name. */
  states: Record<string, number>;
  /** Accept-queue length of the port's LISTEN socket(s) (the largest, if several). */
  listenRxQueue: number;
  /** The listener's backlog (the largest, if several): sock_diag reads only, /proc does not show it. */
  listenBacklog?: number;
}

function hexAt(text: string, at: number, len: number): number {
  let n = 0;
  for (let i = at; i < at + len; i++) {
    const c = text.charCodeAt(i);
    n = n * 16 + (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return n;
}

/**
 * Counts the TCP states of one port straight from /proc/net/tcp text, reading only the fields
 * it needs at their fixed offsets (no per-line split or objects): sampled during a run with tens
 * of thousands of sockets, the full parse above cost ~170 ms per read, this a tenth of that.
 */
export function scanPortStates(text: string, port: number | undefined, into: PortStateCount = { states: {}, listenRxQueue: 0 }, address?: ProcAddress): PortStateCount {
  let line = text.indexOf('\n') + 1; // skip the header
  while (line > 0 && line < text.length) {
    const next = text.indexOf('\n', line);
    const end = next < 0 ? text.length : next;
    const colon = text.indexOf(':', line);
    if (colon < 0 || colon >= end) break;
    const local = colon + 2;
    const addrLen = text.charCodeAt(local + 8) === 58 /* ':' */ ? 8 : 32;
    if (end - local >= 2 * addrLen + 32) {
      const localPort = hexAt(text, local + addrLen + 1, 4);
      const remote = local + addrLen + 6;
      const remotePort = hexAt(text, remote + addrLen + 1, 4);
      const st = remote + addrLen + 6;
      const counted = port === undefined
        || (address === undefined
          ? localPort === port || remotePort === port
          : (localPort === port && (text.startsWith(address[addrLen === 8 ? 'v4' : 'v6'], local) || text.startsWith('0A', st)))
            || (remotePort === port && text.startsWith(address[addrLen === 8 ? 'v4' : 'v6'], remote)));
      if (counted) {
        const name = TCP_STATES[text.slice(st, st + 2)] ?? text.slice(st, st + 2);
        into.states[name] = (into.states[name] ?? 0) + 1;
        if (name === 'LISTEN' && localPort === port) into.listenRxQueue = Math.max(into.listenRxQueue, hexAt(text, st + 12, 8));
      }
    }
    line = end + 1;
  }
  return into;
}

/**
 * An IP address as /proc/net/tcp{,6} prints it: each 32-bit word of the address in host byte order
 * (little-endian here), upper-case hex; v6 is the IPv4-mapped form for an IPv4 address. A v4 field
 * for an IPv6 address matches nothing.
 */
export interface ProcAddress {
  v4: string;
  v6: string;
}

/** The /proc spelling of an IP literal, undefined for anything that is not one (a host name). */
export function procAddress(ip: string): ProcAddress | undefined {
  const bytes = ipBytes(ip);
  if (!bytes) return undefined;
  const words = (b: number[]): string => {
    let out = '';
    for (let i = 0; i < b.length; i += 4) for (let j = 3; j >= 0; j--) out += b[i + j].toString(16).padStart(2, '0');
    return out.toUpperCase();
  };
  if (bytes.length === 4) return { v4: words(bytes), v6: words([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytes]) };
  return { v4: '-', v6: words(bytes) };
}

/** 4 or 16 bytes of an IP literal (IPv6 may be bracketed or IPv4-mapped), undefined otherwise. */
function ipBytes(raw: string): number[] | undefined {
  const ip = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  const kind = isIP(ip);
  if (kind === 4) return ip.split('.').map(Number);
  if (kind !== 6) return undefined;
  // the URL parser writes an IPv6 literal in one canonical form: expand that, the embedded IPv4 tail too
  const canon = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head, tail] = canon.split('::') as [string, string | undefined];
  const groups = (part: string | undefined): number[] => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/**
 * State counts (of one port, or of all sockets) and the listener's accept queue, IPv4 and IPv6.
 * With `address`, a socket counts only when that address and the port are one of its two ends
 * (listeners on the port count whatever they are bound to): other programs' sockets that merely
 * share the port number on another address (a busy host has them) are left out.
 */
export function readPortStates(port: number | undefined, pidNetDir = '/proc/net', address?: string): PortStateCount {
  const proc = address === undefined ? undefined : procAddress(address);
  const out = scanPortStates(readProcFile(`${pidNetDir}/tcp`) ?? '', port, undefined, proc);
  return scanPortStates(readProcFile(`${pidNetDir}/tcp6`) ?? '', port, out, proc);
}

/** Bytes asked of the kernel per read of a listener table's head: ~100 rows. */
const HEAD_CHUNK = 16 * 1024;

/**
 * Reads the rows of /proc/net/tcp (or tcp6) up to the first socket that is not listening. The kernel
 * lists every listening socket before the others (net/ipv4/tcp_ipv4.c: the listening hash, then
 * the established one) and formats rows only as they are read, so this costs in proportion to the
 * host's listeners, not to its tens of thousands of connections: ~0.1 ms instead of ~100 ms for a
 * full read with 27,000 sockets here. The text returned ends at a row boundary.
 */
export function readListeningHead(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const buf = Buffer.allocUnsafe(HEAD_CHUNK);
    let text = '';
    let from = 0; // where the first unchecked row starts
    for (;;) {
      const n = readSync(fd, buf, 0, HEAD_CHUNK, null);
      if (n <= 0) return text;
      text += buf.toString('latin1', 0, n);
      if (from === 0) from = text.indexOf('\n') + 1; // the header
      for (;;) {
        const end = text.indexOf('\n', from);
        if (end < 0) break;
        const st = rowState(text, from, end);
        if (st !== undefined && st !== '0A') return text.slice(0, from);
        from = end + 1;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** The state field (hex, e.g. '0A') of the row text[from, end), undefined for a row that is not one. */
function rowState(text: string, from: number, end: number): string | undefined {
  const colon = text.indexOf(':', from);
  if (colon < 0 || colon >= end) return undefined;
  const local = colon + 2;
  const addrLen = text.charCodeAt(local + 8) === 58 /* ':' */ ? 8 : 32;
  const st = local + 2 * addrLen + 12;
  return st + 2 <= end ? text.slice(st, st + 2) : undefined;
}

/**
 * The accept queue of the port's listener(s), read from the listening rows alone (see
 * readListeningHead). `families` names the tables to read: tcp6 is dearer, because the kernel walks
 * every IPv4 socket looking for IPv6 ones to fill its page (~0.6 ms here against ~0.05 ms for tcp),
 * so a caller that knows where the listener is reads only that table.
 */
export function readListenQueue(port: number, families: ReadonlyArray<'tcp' | 'tcp6'> = ['tcp', 'tcp6'], pidNetDir = '/proc/net'): number {
  const out: PortStateCount = { states: {}, listenRxQueue: 0 };
  for (const f of families) scanPortStates(readListeningHead(`${pidNetDir}/${f}`), port, out);
  return out.listenRxQueue;
}

/** Which tables (tcp for IPv4, tcp6 for IPv6 and dual-stack) hold a listener on the port. */
export function listenerFamilies(port: number, pidNetDir = '/proc/net'): Array<'tcp' | 'tcp6'> {
  return (['tcp', 'tcp6'] as const).filter((f) => (scanPortStates(readListeningHead(`${pidNetDir}/${f}`), port).states.LISTEN ?? 0) > 0);
}

/** `ss` state names → the kernel's names used everywhere else here (/proc/net/tcp's). */
const SS_STATES: Record<string, string> = {
  ESTAB: 'ESTABLISHED',
  'SYN-SENT': 'SYN_SENT',
  'SYN-RECV': 'SYN_RECV',
  'FIN-WAIT-1': 'FIN_WAIT1',
  'FIN-WAIT-2': 'FIN_WAIT2',
  'TIME-WAIT': 'TIME_WAIT',
  UNCONN: 'CLOSE',
  CLOSE: 'CLOSE',
  'CLOSE-WAIT': 'CLOSE_WAIT',
  'LAST-ACK': 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
};

/** An `ss` address column (`127.0.0.1:80`, `[::1]:80`, `[::ffff:127.0.0.1]:80`) as 16 bytes, the port apart. */
function ssEndpoint(col: string): { bytes: string; port: number } | undefined {
  const colon = col.lastIndexOf(':');
  if (colon < 0) return undefined;
  const b = ipBytes(col.slice(0, colon));
  if (!b) return undefined;
  const v6 = b.length === 4 ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...b] : b;
  return { bytes: v6.join('.'), port: Number(col.slice(colon + 1)) };
}

/**
 * Counts `ss -tanH` rows by state; a LISTEN row's Recv-Q is its accept queue, its Send-Q its backlog. With `address`, a row
 * counts only when address:port is one of its ends (listeners on the port always), as in readPortStates.
 */
export function parseSsRows(text: string, port: number, into: PortStateCount = { states: {}, listenRxQueue: 0 }, address?: string): PortStateCount {
  const want = address === undefined ? undefined : ipBytes(address);
  const wantKey = want === undefined ? undefined : (want.length === 4 ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...want] : want).join('.');
  let at = 0;
  let established = 0;
  while (at < text.length) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    // nearly every row of a held run: counted without slicing (the first parse runs before V8
    // optimises this loop, ~27 ms for 20,000 rows the general way, ~10 ms this way)
    if (wantKey === undefined && text.startsWith('ESTAB ', at)) {
      established++;
      at = end + 1;
      continue;
    }
    const sp = text.indexOf(' ', at);
    if (sp > at && sp < end) {
      const raw = text.slice(at, sp);
      const name = SS_STATES[raw] ?? raw;
      if (wantKey !== undefined && name !== 'LISTEN') {
        const cols = text.slice(at, end).trim().split(/\s+/);
        const ends = [ssEndpoint(cols[3] ?? ''), ssEndpoint(cols[4] ?? '')];
        if (!ends.some((e) => e !== undefined && e.port === port && e.bytes === wantKey)) {
          at = end + 1;
          continue;
        }
      }
      into.states[name] = (into.states[name] ?? 0) + 1;
      if (name === 'LISTEN') {
        const m = /^\S+\s+(\d+)\s+(\d+)\s+\S*:(\d+)\s/.exec(text.slice(at, end));
        if (m && Number(m[3]) === port) {
          into.listenRxQueue = Math.max(into.listenRxQueue, Number(m[1]));
          into.listenBacklog = Math.max(into.listenBacklog ?? 0, Number(m[2]));
        }
      }
    }
    at = end + 1;
  }
  if (established > 0) into.states.ESTABLISHED = (into.states.ESTABLISHED ?? 0) + established;
  return into;
}

/**
 * The `ss` filter expression for the port's sockets, compiled by `ss` into the sock_diag request so
 * that the kernel returns only matching rows. With an IP `address`: sockets with address:port at
 * one end (an IPv4 address also matches the IPv4-mapped IPv6 sockets of a dual-stack server, as in
 * readPortStates), and listeners on the port whatever they are bound to (a listener's remote port
 * is 0); by port alone otherwise, or when `address` is not an IP literal.
 */
export function ssFilter(port: number, address?: string): string {
  const bytes = address === undefined ? undefined : ipBytes(address);
  if (bytes === undefined) return `( sport = :${port} or dport = :${port} )`;
  const bare = address!.startsWith('[') ? address!.slice(1, -1) : address!;
  const a = bytes.length === 4 ? bare : `[${bare}]`;
  return `( src ${a}:${port} or dst ${a}:${port} or ( sport = :${port} and dport = :0 ) )`;
}

/**
 * The port's state counts through netlink sock_diag (`ss`, port and address filtered in the
 * kernel): costs in proportion to the sockets of that port, where /proc/net/tcp formats every
 * socket of the network namespace, other programs' included (on a shared host, most of them).
 * `cpuMs` is the child's CPU as the kernel counted it. Undefined when `ss` cannot run (not
 * installed, other OS): the caller reads /proc instead. One process per read, forked from this
 * one (which costs in proportion to this process's memory): for repeated reads, PortStatesReader.
 */
export function readPortStatesDiag(port: number, address?: string): { counts: PortStateCount; cpuMs: number } | undefined {
  const before = childCpuMs();
  const r = spawnSync('ss', ['-tanH', ssFilter(port, address)], { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024, timeout: 30_000 });
  const cpuMs = childCpuMs() - before;
  if (r.error || r.status !== 0 || typeof r.stdout !== 'string') return undefined;
  return { counts: parseSsRows(r.stdout, port), cpuMs };
}

/** CPU of this process's waited-for children so far (cutime + cstime), ms. */
function childCpuMs(): number {
  const stat = readProcFile('/proc/self/stat');
  if (stat === undefined) return 0;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10; // USER_HZ = 100
}

/** TCP sockets of this network namespace (in use + TIME_WAIT, IPv4 and IPv6), from /proc/net/sockstat{,6}: ~0.1 ms. */
export function tcpSocketsInNetns(pidNetDir = '/proc/net'): number | undefined {
  const v4 = /^TCP: inuse (\d+) orphan \d+ tw (\d+)/m.exec(readProcFile(`${pidNetDir}/sockstat`) ?? '');
  if (!v4) return undefined;
  const v6 = /^TCP6: inuse (\d+)/m.exec(readProcFile(`${pidNetDir}/sockstat6`) ?? '');
  return Number(v4[1]) + Number(v4[2]) + (v6 ? Number(v6[1]) : 0);
}
