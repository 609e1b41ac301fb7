import { request } from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';

/** A real `ws` client that records every frame and close, for asserting on what the gateway sent. */
export class Peer {
  readonly ws: WebSocket;
  readonly frames: any[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: { pred: (f: any) => boolean; resolve: (f: any) => void }[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  constructor(url: string, options: ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      });
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => {
        if (w.pred(f)) {
          w.resolve(f);
          return false;
        }
        return true;
      });
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Resolves with the first frame (already received or future) matching `pred`. */
  next(pred: (f: any) => boolean, timeoutMs = 5000): Promise<any> {
    const found = this.frames.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (f) => { clearTimeout(timer); resolve(f); } });
    });
  }

  /** Waits until `n` frames match `pred` in total. */
  async count(pred: (f: any) => boolean, n: number, timeoutMs = 5000): Promise<any[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const got = this.frames.filter(pred);
      if (got.length >= n) return got;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`expected ${n} matching frames, got ${this.frames.filter(pred).length}`);
  }

  close(): void {
    this.ws.terminate();
  }
}

export async function openPeer(url: string, options?: ClientOptions): Promise<Peer> {
  const p = new Peer(url, options);
  await p.opened;
  await p.next((f) => f.type === 'welcome');
  return p;
}

/** Subscribes `p` to `channel` and waits for the `subscribed` answer to request `id` (fails on any other answer). */
export async function subscribe(p: Peer, channel: string, id: number, timeoutMs = 15_000): Promise<void> {
  p.send({ type: 'subscribe', id, channel });
  const f = await p.next((x) => x.id === id, timeoutMs);
  if (f.type !== 'subscribed') throw new Error(`subscribe ${channel} (id ${id}) answered ${JSON.stringify(f)}`);
}

let nextPresenceId = 100_000;
/** Asks for the presence of `channel` (a fresh request id each time) and returns the `presence` answer (fails on any other answer). */
export async function presence(p: Peer, channel: string, timeoutMs = 15_000): Promise<any> {
  const id = nextPresenceId++;
  p.send({ type: 'presence', id, channel });
  const f = await p.next((x) => x.id === id, timeoutMs);
  if (f.type !== 'presence') throw new Error(`presence ${channel} (id ${id}) answered ${JSON.stringify(f)}`);
  return f;
}

export interface UpgradeAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends a bare WebSocket upgrade and reports the HTTP answer (101 or a refusal) without a WebSocket library. */
export function rawUpgrade(port: number, opts: { headers?: Record<string, string>; path?: string; host?: string } = {}): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: opts.host ?? '127.0.0.1', port, path: opts.path ?? '/',
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...opts.headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
