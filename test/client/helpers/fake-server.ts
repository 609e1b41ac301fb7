import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface Refusal {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A scriptable Floodgate server on a real `ws` WebSocketServer (centrifuge-js fakeServer
 * style): tests decide per upgrade whether to refuse it, whether to send `welcome`, and whether
 * to answer pings. Subscribes and publishes get protocol-shaped answers from one fake channel log.
 */
export class FakeServer {
  readonly http: Server;
  readonly wss = new WebSocketServer({ noServer: true });
  readonly sockets = new Set<WebSocket>();
  readonly frames: any[] = [];
  upgrades = 0;
  /** Return a refusal to answer this upgrade (1-based count) with an HTTP status. */
  refuse: ((n: number) => Refusal | undefined) | undefined;
  welcome = true;
  answerPings = true;
  epoch = 'fake-epoch';
  /** Extra fields of the `subscribed` answer to a subscribe with `recover`. */
  recoverAnswer: (recover: { epoch: string; offset: number }) => Record<string, unknown> = () => ({ recovered: true, replayed: 0 });
  offset = 0;
  port = 0;
  /** Extra fields of the `welcome` frame (e.g. `idempotencyWindow`). */
  welcomeExtra: Record<string, unknown> = {};
  /** Answer to the n-th publish frame (1-based): a frame to send, `null` for no answer, undefined for the default `published`. */
  publishAnswer: ((f: any, n: number) => Record<string, unknown> | null | undefined) | undefined;
  publishes = 0;
  /** `{code, message}` to refuse the n-th subscribe frame (1-based) with an error, undefined to answer it. */
  subscribeRefusal: ((f: any, n: number) => { code: string; message: string } | undefined) | undefined;
  subscribes = 0;
  /** While true, every new TCP connection is reset at once: a server that is down, on a port we keep. */
  down = false;
  private raw = new Set<Socket>();

  constructor() {
    this.http = createServer((_req, res) => res.writeHead(404).end());
    this.http.on('connection', (s) => {
      if (this.down) {
        s.resetAndDestroy();
        return;
      }
      this.raw.add(s);
      s.on('close', () => this.raw.delete(s));
      s.on('error', () => {}); // clients that reset are part of the tests
    });
    this.http.on('upgrade', (req, socket, head) => {
      const n = ++this.upgrades;
      const r = this.refuse?.(n);
      if (r !== undefined) {
        const body = r.body ?? JSON.stringify({ code: r.status === 503 ? 'FG_ERR_OVER_CAPACITY' : 'FG_ERR_INTERNAL', message: 'refused by the fake server' });
        const headers = { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...r.headers };
        socket.end(`HTTP/1.1 ${r.status} Refused\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
  }

  static async start(port = 0): Promise<FakeServer> {
    const s = new FakeServer();
    await new Promise<void>((resolve, reject) => {
      s.http.once('error', reject);
      s.http.listen(port, '127.0.0.1', () => resolve());
    });
    s.port = (s.http.address() as { port: number }).port;
    return s;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  private accept(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', () => {});
    if (this.welcome) ws.send(JSON.stringify({ type: 'welcome', node: 'fake', session: String(this.upgrades), pingInterval: 25000, maxPayload: 16384, ...this.welcomeExtra }));
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString());
      this.frames.push(f);
      if (f.type === 'ping' && this.answerPings) ws.send(JSON.stringify({ type: 'pong', id: f.id }));
      else if (f.type === 'subscribe' && this.subscribeRefusal?.(f, ++this.subscribes) !== undefined) {
        ws.send(JSON.stringify({ type: 'error', id: f.id, channel: f.channel, ...this.subscribeRefusal(f, this.subscribes) }));
      }
      else if (f.type === 'subscribe') {
        const extra = f.recover ? this.recoverAnswer(f.recover) : {};
        ws.send(JSON.stringify({ type: 'subscribed', id: f.id, channel: f.channel, epoch: this.epoch, offset: this.offset, ...extra }));
      }
      else if (f.type === 'publish') {
        const custom = this.publishAnswer?.(f, ++this.publishes);
        if (custom === null) return;
        ws.send(JSON.stringify(custom ?? { type: 'published', id: f.id, channel: f.channel, epoch: this.epoch, offset: ++this.offset }));
      }
    });
  }

  /** Sends a frame to every open socket. */
  broadcast(frame: unknown): void {
    for (const ws of this.sockets) ws.send(JSON.stringify(frame));
  }

  /** Destroys every TCP connection (the client sees 1006). */
  dropAll(): void {
    for (const s of this.raw) s.destroy();
  }

  async stop(): Promise<void> {
    this.dropAll();
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
