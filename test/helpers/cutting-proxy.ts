import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy that cuts a share of its connections every tick (the client sees a reset path,
 * 1006), as a flaky network between clients and the load balancer does. Pairs are tracked so a
 * cut destroys both sides. Bounded: it only cuts while started, and only its own connections.
 */
export class CuttingProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private timer: NodeJS.Timeout | undefined;
  port = 0;
  cuts = 0;
  accepted = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    const server = createServer((client) => {
      this.accepted++;
      const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      for (const s of pair) s.on('error', () => {});
      client.pipe(upstream);
      upstream.pipe(client);
      const done = (): void => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.once('close', done);
      upstream.once('close', done);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this;
  }

  /** Every `tickMs`, destroys each connection with probability `share` (e.g. 0.01 per 100 ms = 10 %/s). */
  cutEvery(tickMs: number, share: number, random: () => number = Math.random): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      for (const pair of [...this.pairs]) {
        if (random() < share) {
          this.cuts++;
          pair[0].destroy();
          pair[1].destroy();
        }
      }
    }, tickMs);
  }

  stopCutting(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async stop(): Promise<void> {
    this.stopCutting();
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
