import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { FailurePhase, FailureSide } from '../doctor/run-evidence.js';
import type { LocalPorts } from './local-ports.js';
import { encodeClientFrame, frameBytesNeeded, parseFrames, type FrameEvent } from './ws-frames.js';

/** Errors caused by the generator's own machine limits, not by the server. */
const GENERATOR_ERRNOS = new Set(['EMFILE', 'ENFILE', 'EADDRNOTAVAIL', 'EADDRINUSE', 'ENOBUFS', 'ENOMEM']);

export interface Failure {
  phase: FailurePhase;
  detail: string;
  side: FailureSide;
  example: string;
  retryAfter?: number;
}

export interface ConnectionTarget {
  kind: 'ws' | 'wss' | 'tcp';
  host: string;
  port: number;
  path: string;
  /** Pre-built upgrade request minus the key line, and the accept value the key must produce. */
  request?: Buffer;
  expectedAccept?: string;
  /** wss:// without certificate verification (--insecure). */
  insecure?: boolean;
  /** The subprotocol asked for (Sec-WebSocket-Protocol), if any: the 101 must name it. */
  protocol?: string;
  /** Local ports to bind connections from a source address to (see local-ports.ts). */
  ports?: LocalPorts;
}

/**
 * What a worker learns from its connections. One object per worker, shared by all of them: each
 * call names the connection, so a held connection costs no closures of its own.
 */
export interface ConnectionHooks {
  onConnect(c: Connection, connectUs: number): void;
  onOpen(c: Connection, handshakeUs: number): void;
  onFail(c: Connection, f: Failure): void;
  onText(c: Connection, text: string): void;
}

/**
 * Builds the upgrade request once per worker. One Sec-WebSocket-Key per worker: servers only echo
 * its hash, and skipping a SHA-1 per connection is part of why this client is cheap.
 */
export function prepareUpgrade(t: ConnectionTarget, hostHeader: string, protocol?: string, headers: Record<string, string> = {}): void {
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${t.path} HTTP/1.1`,
    `Host: ${hostHeader}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
  ];
  if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  t.protocol = protocol || undefined;
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  t.request = Buffer.from(lines.join('\r\n') + '\r\n\r\n');
  t.expectedAccept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

function errnoOf(err: NodeJS.ErrnoException): string {
  return err.code ?? err.name ?? 'Error';
}

/** The connection a socket belongs to: one symbol-keyed field instead of a closure per listener. */
const kConn = Symbol('floodgate.connection');
type OwnedSocket = Socket & { [kConn]?: Connection };

// Socket listeners shared by every connection (`this` is the socket, as EventEmitter calls them).
function onSocketConnect(this: OwnedSocket): void {
  this[kConn]?.connected(this);
}
function onSocketError(this: OwnedSocket, err: NodeJS.ErrnoException): void {
  this[kConn]?.socketError(this, err);
}
function onSocketClose(this: OwnedSocket): void {
  this[kConn]?.socketClosed(this);
}
function onSocketData(this: OwnedSocket, d: Buffer): void {
  this[kConn]?.data(d);
}

/** A header's comma-separated tokens include `token` (case-insensitive), as RFC 6455 §4.1 asks of Connection. */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const t of value.split(',')) if (t.trim().toLowerCase() === token) return true;
  return false;
}

/**
 * One generator connection: raw TCP (or TLS), the HTTP Upgrade written by hand, the 101 checked
 * as strictly as RFC 6455 §4.1 asks of a client (status 101, `Upgrade: websocket`, `Connection:
 * Upgrade`, the Sec-WebSocket-Accept of the key sent, no subprotocol or extension that was not
 * asked for), then server frames parsed here.
 *
 * Kept small on purpose (memory per held connection is a goal): plain fields, listeners shared by
 * every socket (no closures per connection), no timer of its own. The worker's one sweep fails
 * connections past their `deadline` (see `expire`), so a connection costs no Timeout object.
 */
export class Connection {
  socket: Socket | undefined;
  /** 0 connecting, 1 upgrading, 2 open, 3 done */
  state = 0;
  closing = false;
  /** First server message seen (the worker's first-message latency). */
  gotFirst = false;
  /** performance.now() by which the current phase (connect, upgrade, clean close) must be over. */
  deadline = 0;
  /** Planned start, epoch ms (the worker's, for latency from the planned start). */
  planned = 0;
  /** Open since, epoch ms. */
  openedAt = 0;
  private t0 = 0;
  private buf: Buffer | undefined;
  /** Open: chunks that arrived after `buf` while its frame is not yet whole, and how many bytes make it whole. */
  private more: Buffer[] | undefined;
  private moreBytes = 0;
  private need = 0;
  private frameState: { fragments?: Buffer[]; fragOpcode?: number; fragBytes?: number } | undefined;
  /** Source address and chosen port while connecting (the fallback to the kernel's port needs them). */
  private localAddress: string | undefined;
  private localPort: number | undefined;

  constructor(
    private readonly target: ConnectionTarget,
    private readonly hooks: ConnectionHooks,
    private readonly connectTimeoutMs: number,
    private readonly handshakeTimeoutMs: number,
  ) {}

  start(localAddress: string | undefined): void {
    this.t0 = performance.now();
    this.deadline = this.t0 + this.connectTimeoutMs;
    this.localAddress = localAddress;
    this.open(localAddress === undefined ? undefined : this.target.ports?.take(localAddress));
  }

  private open(localPort: number | undefined): void {
    const t = this.target;
    const localAddress = this.localAddress;
    this.localPort = localPort;
    let s: OwnedSocket;
    try {
      s = t.kind === 'wss'
        ? tlsConnect({ host: t.host, port: t.port, localAddress, localPort, rejectUnauthorized: !t.insecure, servername: isIP(t.host) ? undefined : t.host } as ConnectionOptions)
        : netConnect({ host: t.host, port: t.port, localAddress, localPort });
    } catch (err) {
      this.fail('connect', errnoOf(err as NodeJS.ErrnoException), String((err as Error).message));
      return;
    }
    this.socket = s;
    s[kConn] = this;
    s.once(t.kind === 'wss' ? 'secureConnect' : 'connect', onSocketConnect);
    s.on('error', onSocketError);
    s.on('close', onSocketClose);
    s.on('data', onSocketData);
  }

  /** @internal (shared listener) */
  socketError(s: Socket, err: NodeJS.ErrnoException): void {
    if (s !== this.socket) return;
    if (this.state === 0 && this.localPort !== undefined && (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL')) {
      // the chosen port was taken: the kernel chooses instead, and its verdict is the one counted
      this.target.ports!.missed(this.localAddress!);
      (s as OwnedSocket)[kConn] = undefined;
      s.destroy();
      this.open(undefined);
      return;
    }
    const phase: FailurePhase = this.state === 0 ? 'connect' : this.state === 1 ? 'upgrade' : 'session';
    this.fail(phase, errnoOf(err), err.message);
  }

  /** @internal (shared listener) */
  socketClosed(s: Socket): void {
    if (s !== this.socket || this.state === 3) return;
    if (this.closing) return this.finish();
    if (this.state === 1) this.fail('upgrade', 'closed', `server closed the connection before answering the upgrade${this.buf ? ` (got ${JSON.stringify(this.buf.toString('latin1').slice(0, 80))})` : ''}`);
    else if (this.state === 2) this.fail('session', 'unexpected_close', 'TCP connection closed without a close frame');
    else this.fail('connect', 'closed', 'socket closed while connecting');
  }

  /** @internal (shared listener) */
  connected(s: Socket): void {
    if (s !== this.socket || this.state !== 0) return;
    if (this.localPort !== undefined) this.target.ports!.hit(this.localAddress!);
    this.localAddress = undefined;
    const now = performance.now();
    this.hooks.onConnect(this, Math.round((now - this.t0) * 1000));
    if (this.target.kind === 'tcp') {
      this.state = 2;
      this.hooks.onOpen(this, Math.round((now - this.t0) * 1000));
      return;
    }
    this.state = 1;
    this.deadline = now + this.handshakeTimeoutMs;
    s.write(this.target.request!);
  }

  /**
   * Called by the worker's sweep once `deadline` has passed: fails an attempt stuck in its
   * connect or upgrade, resets a clean close the server did not finish.
   */
  expire(): void {
    if (this.state === 0) this.fail('connect', 'ETIMEDOUT', `no TCP connection to ${this.target.host}:${this.target.port} within ${this.connectTimeoutMs} ms (SYN unanswered or dropped)`);
    else if (this.state === 1) this.fail('upgrade', 'timeout', `connected, but no upgrade answer within ${this.handshakeTimeoutMs} ms (server not accepting or not answering)`);
    else if (this.closing && this.state === 2) this.reset();
  }

  /** @internal (shared listener) */
  data(d: Buffer): void {
    if (this.state === 2) {
      if (this.target.kind === 'tcp') return;
      if (this.buf === undefined) {
        this.frames(d);
        return;
      }
      // the frame is joined once, when whole: not re-copied with every chunk of it
      (this.more ??= []).push(d);
      this.moreBytes += d.length;
      if (this.buf.length + this.moreBytes < this.need) return;
      const buf = Buffer.concat([this.buf, ...this.more], this.buf.length + this.moreBytes);
      this.buf = undefined;
      this.more = undefined;
      this.moreBytes = 0;
      this.frames(buf);
      return;
    }
    if (this.state !== 1) return;
    const buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buf.length > 16384) this.fail('upgrade', 'headers_too_large', `no end of headers in ${buf.length} bytes`);
      else this.buf = buf;
      return;
    }
    this.buf = undefined;
    const head = buf.toString('latin1', 0, end);
    const lines = head.split('\r\n');
    const status = lines[0];
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(status);
    if (!m) {
      this.fail('upgrade', 'bad_status_line', status.slice(0, 120));
      return;
    }
    const code = Number(m[1]);
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const c = lines[i].indexOf(':');
      if (c > 0) headers.set(lines[i].slice(0, c).trim().toLowerCase(), lines[i].slice(c + 1).trim());
    }
    if (code !== 101) {
      const ra = headers.get('retry-after');
      const retryAfter = ra !== undefined && /^\d+$/.test(ra) ? Number(ra) : undefined;
      this.fail('upgrade', `status_${code}`, `${status}${ra !== undefined ? ` (Retry-After: ${ra})` : ''}`, retryAfter);
      return;
    }
    if ((headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') {
      this.fail('handshake', 'missing_upgrade', `101 without "Upgrade: websocket" (Upgrade: ${headers.get('upgrade') ?? 'absent'})`);
      return;
    }
    if (!hasToken(headers.get('connection'), 'upgrade')) {
      this.fail('handshake', 'missing_connection', `101 without "Connection: Upgrade" (Connection: ${headers.get('connection') ?? 'absent'})`);
      return;
    }
    const accept = headers.get('sec-websocket-accept');
    if (accept !== this.target.expectedAccept) {
      this.fail('handshake', 'bad_accept', `Sec-WebSocket-Accept ${accept ?? 'absent'}, expected ${this.target.expectedAccept}`);
      return;
    }
    const protocol = headers.get('sec-websocket-protocol');
    if (protocol !== this.target.protocol && (protocol !== undefined || this.target.protocol !== undefined)) {
      this.fail('handshake', 'bad_protocol', `Sec-WebSocket-Protocol ${protocol ?? 'absent'}, asked for ${this.target.protocol ?? 'none'}`);
      return;
    }
    const extensions = headers.get('sec-websocket-extensions');
    if (extensions !== undefined) {
      this.fail('handshake', 'bad_extension', `Sec-WebSocket-Extensions ${extensions.slice(0, 80)}, none was asked for`);
      return;
    }
    this.state = 2;
    this.hooks.onOpen(this, Math.round((performance.now() - this.t0) * 1000));
    if (buf.length > end + 4 && this.state === 2) this.frames(buf.subarray(end + 4));
  }

  private frames(buf: Buffer): void {
    // whatever the server sends, it ends as a counted failure of this connection, never a throw in the worker
    try {
      const { events, rest } = parseFrames(buf, (this.frameState ??= {}));
      if (rest.length > 0) {
        this.buf = Buffer.from(rest);
        this.need = frameBytesNeeded(rest);
      }
      // one pong per read, for the latest ping (RFC 6455 §5.5.3 allows it): a ping flood from a
      // server that does not read its pongs would otherwise cost a socket write per ping
      let lastPing = -1;
      for (let i = 0; i < events.length; i++) if (events[i]!.kind === 'ping') lastPing = i;
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        if (e.kind !== 'ping' || i === lastPing) this.event(e);
      }
    } catch (err) {
      this.fail('frames', 'decoder_error', `reading a server frame failed: ${(err as Error).message}`);
    }
  }

  private event(e: FrameEvent): void {
    if (this.state !== 2) return;
    switch (e.kind) {
      case 'text':
        this.hooks.onText(this, e.text);
        break;
      case 'ping':
        this.socket?.write(encodeClientFrame(10, e.payload));
        break;
      case 'close':
        if (this.closing) {
          // Wait for the server's FIN: the side that closes first keeps TIME_WAIT, and it should not be us.
        } else {
          this.fail('frames', `close_${e.code ?? 1005}`, `server sent close ${e.code ?? '(no code)'}${e.reason ? ` "${e.reason}"` : ''}`);
        }
        break;
      case 'error':
        this.fail('frames', e.detail, e.example);
        break;
      default:
        break;
    }
  }

  send(text: string): boolean {
    if (this.state !== 2 || !this.socket) return false;
    this.socket.write(encodeClientFrame(1, Buffer.from(text)));
    return true;
  }

  /**
   * Ends the connection on purpose: a close handshake (`clean`) or a reset that leaves no TIME_WAIT
   * here. A clean close the server has not finished by `deadline` (now + graceMs) is reset by the
   * worker's sweep (`expire`). Returns true when a clean close is under way.
   */
  close(mode: 'clean' | 'reset', graceMs = 2000): boolean {
    const s = this.socket;
    if (this.state === 3 || !s) return false;
    if (mode === 'clean' && this.state === 2 && this.target.kind !== 'tcp') {
      this.closing = true;
      this.deadline = performance.now() + graceMs;
      s.write(encodeClientFrame(8, Buffer.from([0x03, 0xe8])));
      return true;
    }
    this.reset();
    return false;
  }

  get pending(): boolean {
    return this.state < 2;
  }

  /** The run ended before this attempt finished: counted, with the phase it was stuck in. */
  abandon(): void {
    if (this.state >= 2) return;
    this.fail(this.state === 0 ? 'connect' : 'upgrade', 'unfinished_at_end', `still ${this.state === 0 ? 'connecting' : 'waiting for the upgrade answer'} when the run ended`);
  }

  private reset(): void {
    this.finish();
    const s = this.socket;
    if (!s || s.destroyed) return;
    // a TLS socket's handle is the TLS wrap, which cannot send an RST (resetAndDestroy throws
    // ERR_INVALID_HANDLE_TYPE): it is destroyed instead
    if (typeof s.resetAndDestroy === 'function' && s.readyState !== 'opening' && this.target.kind !== 'wss') s.resetAndDestroy();
    else s.destroy();
  }

  private finish(): void {
    this.state = 3;
  }

  private fail(phase: FailurePhase, detail: string, example: string, retryAfter?: number): void {
    if (this.state === 3) return;
    const side: FailureSide = phase === 'generator' || GENERATOR_ERRNOS.has(detail) ? 'generator' : 'server';
    this.hooks.onFail(this, { phase, detail, side, example, retryAfter });
    this.reset();
  }
}
