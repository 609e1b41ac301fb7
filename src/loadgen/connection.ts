import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { FailurePhase, FailureSide } from '../doctor/run-evidence.js';
import { encodeClientFrame, parseFrames, type FrameEvent } from './ws-frames.js';

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
}

export interface ConnectionHooks {
  onConnect(connectUs: number): void;
  onOpen(handshakeUs: number): void;
  onFail(f: Failure): void;
  onText(text: string): void;
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
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  t.request = Buffer.from(lines.join('\r\n') + '\r\n\r\n');
  t.expectedAccept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

function errnoOf(err: NodeJS.ErrnoException): string {
  return err.code ?? err.name ?? 'Error';
}

/**
 * One generator connection: raw TCP (or TLS), the HTTP Upgrade written by hand, the 101 checked,
 * then server frames parsed here. Kept small on purpose (memory per held connection is a goal).
 */
export class Connection {
  socket: Socket | undefined;
  /** 0 connecting, 1 upgrading, 2 open, 3 done */
  state = 0;
  private buf: Buffer | undefined;
  private frameState: { fragments?: Buffer[]; fragOpcode?: number; fragBytes?: number } = {};
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  closing = false;

  constructor(
    private readonly target: ConnectionTarget,
    private readonly hooks: ConnectionHooks,
    private readonly connectTimeoutMs: number,
    private readonly handshakeTimeoutMs: number,
  ) {}

  start(localAddress: string | undefined): void {
    this.t0 = performance.now();
    const t = this.target;
    let s: Socket;
    try {
      s = t.kind === 'wss'
        ? tlsConnect({ host: t.host, port: t.port, localAddress, rejectUnauthorized: !t.insecure, servername: isIP(t.host) ? undefined : t.host } as ConnectionOptions)
        : netConnect({ host: t.host, port: t.port, localAddress });
    } catch (err) {
      this.fail('connect', errnoOf(err as NodeJS.ErrnoException), String((err as Error).message));
      return;
    }
    this.socket = s;
    this.timer = setTimeout(() => this.fail('connect', 'ETIMEDOUT', `no TCP connection to ${t.host}:${t.port} within ${this.connectTimeoutMs} ms (SYN unanswered or dropped)`), this.connectTimeoutMs);
    s.once(t.kind === 'wss' ? 'secureConnect' : 'connect', () => this.connected());
    s.on('error', (err: NodeJS.ErrnoException) => {
      const phase: FailurePhase = this.state === 0 ? 'connect' : this.state === 1 ? 'upgrade' : 'session';
      this.fail(phase, errnoOf(err), err.message);
    });
    s.on('close', () => {
      if (this.state === 3) return;
      if (this.closing) return this.finish();
      if (this.state === 1) this.fail('upgrade', 'closed', `server closed the connection before answering the upgrade${this.buf ? ` (got ${JSON.stringify(this.buf.toString('latin1').slice(0, 80))})` : ''}`);
      else if (this.state === 2) this.fail('session', 'unexpected_close', 'TCP connection closed without a close frame');
      else this.fail('connect', 'closed', 'socket closed while connecting');
    });
    s.on('data', (d: Buffer) => this.data(d));
  }

  private connected(): void {
    const s = this.socket!;
    clearTimeout(this.timer);
    this.hooks.onConnect(Math.round((performance.now() - this.t0) * 1000));
    if (this.target.kind === 'tcp') {
      this.state = 2;
      this.hooks.onOpen(Math.round((performance.now() - this.t0) * 1000));
      return;
    }
    this.state = 1;
    s.write(this.target.request!);
    this.timer = setTimeout(() => this.fail('upgrade', 'timeout', `connected, but no upgrade answer within ${this.handshakeTimeoutMs} ms (server not accepting or not answering)`), this.handshakeTimeoutMs);
  }

  private data(d: Buffer): void {
    if (this.state === 2) {
      if (this.target.kind === 'tcp') return;
      const buf = this.buf ? Buffer.concat([this.buf, d]) : d;
      this.buf = undefined;
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
    clearTimeout(this.timer);
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
    const accept = headers.get('sec-websocket-accept');
    if (accept !== this.target.expectedAccept) {
      this.fail('handshake', 'bad_accept', `Sec-WebSocket-Accept ${accept ?? 'absent'}, expected ${this.target.expectedAccept}`);
      return;
    }
    this.state = 2;
    this.hooks.onOpen(Math.round((performance.now() - this.t0) * 1000));
    if (buf.length > end + 4 && this.state === 2) this.frames(buf.subarray(end + 4));
  }

  private frames(buf: Buffer): void {
    // whatever the server sends, it ends as a counted failure of this connection, never a throw in the worker
    try {
      const { events, rest } = parseFrames(buf, this.frameState);
      if (rest.length > 0) this.buf = Buffer.from(rest);
      for (const e of events) this.event(e);
    } catch (err) {
      this.fail('frames', 'decoder_error', `reading a server frame failed: ${(err as Error).message}`);
    }
  }

  private event(e: FrameEvent): void {
    if (this.state !== 2) return;
    switch (e.kind) {
      case 'text':
        this.hooks.onText(e.text);
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

  /** Ends the connection on purpose: a close handshake (`clean`) or a reset that leaves no TIME_WAIT here. */
  close(mode: 'clean' | 'reset', graceMs = 2000): void {
    const s = this.socket;
    if (this.state === 3 || !s) return;
    if (mode === 'clean' && this.state === 2 && this.target.kind !== 'tcp') {
      this.closing = true;
      s.write(encodeClientFrame(8, Buffer.from([0x03, 0xe8])));
      this.timer = setTimeout(() => this.reset(), graceMs);
      this.timer.unref();
      return;
    }
    this.reset();
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
    clearTimeout(this.timer);
  }

  private fail(phase: FailurePhase, detail: string, example: string, retryAfter?: number): void {
    if (this.state === 3) return;
    const side: FailureSide = phase === 'generator' || GENERATOR_ERRNOS.has(detail) ? 'generator' : 'server';
    this.hooks.onFail({ phase, detail, side, example, retryAfter });
    this.reset();
  }
}
