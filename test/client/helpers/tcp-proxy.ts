import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between a client and the gateway, so a test can cut the network path (every
 * connection destroyed, nothing listening) while the gateway and its history keep running.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port: number;
  connections = 0;
  /** While true, bytes from the gateway to the clients are dropped (see mute()). */
  muted = false;

  constructor(private readonly targetPort: number, port = 0) {
    this.port = port;
  }

  private starting: Promise<this> | undefined;

  /** Listens (again) on the same port; concurrent calls share one listen. */
  start(): Promise<this> {
    if (this.server) return Promise.resolve(this);
    this.starting ??= this.listen().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async listen(): Promise<this> {
    const server = createServer((client) => {
      this.connections++;
      const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream);
      // server → client: dropped while muted (the answer to a publish is lost, the publish is not)
      upstream.on('data', (chunk: Buffer) => {
        if (!this.muted) client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this;
  }

  /** Drops everything the gateway sends from now on, until cut() (which unmutes). */
  mute(): void {
    this.muted = true;
  }

  /** Destroys every proxied connection; keeps listening. */
  cut(): number {
    this.muted = false;
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    return n;
  }

  /** Stops listening and destroys every connection: the path is down until start(). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.cut();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
