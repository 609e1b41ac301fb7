import { Worker } from 'node:worker_threads';

/**
 * `/healthz` on its own port, answered by a worker thread: a load balancer's check is not queued
 * behind the gateway's own work (a resubscribe burst, a CPU-starved loop), so "busy" is not
 * mistaken for "down". The main thread publishes its state into shared memory every 250 ms; the
 * thread answers 503 when the gateway is shutting down, its broker is down, or its event loop
 * has not run for `stallMs` (a truly stuck gateway still goes down).
 */

const FLAG_SHUTTING_DOWN = 1;
const FLAG_BROKER_DOWN = 2;
const HEARTBEAT_MS = 250;

/** Connections the health port holds at once (they come out of the process's reservedFds). */
const MAX_HEALTH_CONNECTIONS = 16;

// Plain CommonJS run with `eval`: no module resolution, works the same from src/ (tsx) and dist/.
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { createServer } = require('node:http');
const state = new Int32Array(workerData.shared);
const { base, stallMs, node } = workerData;
// the port serves /healthz only; anything else gets the gateway's documented refusals (docs/errors.md)
const refuse = (res, status, code, message, extra) => {
  const body = JSON.stringify({ code, message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close', ...extra });
  res.end(body);
};
const server = createServer({ connectionsCheckingInterval: 500 }, (req, res) => {
  const path = (req.url || '').split('?')[0];
  if (path !== '/healthz') return refuse(res, 404, 'FG_ERR_NOT_FOUND', 'the health port serves only /healthz');
  if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'FG_ERR_METHOD_NOT_ALLOWED', '/healthz answers GET and HEAD', { allow: 'GET, HEAD' });
  const flags = Atomics.load(state, 0);
  const lag = Date.now() - base - Atomics.load(state, 1);
  const status = flags & ${FLAG_SHUTTING_DOWN} ? 'shutting_down' : flags & ${FLAG_BROKER_DOWN} ? 'broker_down' : lag > stallMs ? 'stalled' : 'ok';
  const body = JSON.stringify({ status, node, loopLagMs: lag });
  res.writeHead(status === 'ok' ? 200 : 503, status === 'ok' ? 'OK' : 'Unavailable: ' + status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(req.method === 'HEAD' ? undefined : body);
});
server.keepAliveTimeout = 1000;
// Its sockets share the process's fds, outside the main port's fd budget: a balancer needs a few
// at once, and silent ones go at once. Unbounded, 600 silent sockets here took every fd and the
// main port stopped answering. Past the bound Node closes new connections as they come.
server.maxConnections = ${MAX_HEALTH_CONNECTIONS};
server.headersTimeout = 2000;
server.requestTimeout = 2000;
server.on('clientError', (err, s) => {
  // answer a request Node's parser refused as the main port does, when the socket can still take it
  const [status, code] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'FG_ERR_HEADERS_TOO_LARGE'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'FG_ERR_HTTP_TIMEOUT'] : [400, 'FG_ERR_BAD_REQUEST'];
  if (!s.writable) return s.destroy();
  const body = JSON.stringify({ code, message: 'the request could not be parsed: ' + (err.code || err.message) });
  const reason = status === 400 ? 'Bad Request' : status === 408 ? 'Request Timeout' : 'Request Header Fields Too Large';
  s.end('HTTP/1.1 ' + status + ' ' + reason + '\\r\\ncontent-type: application/json\\r\\ncontent-length: ' + Buffer.byteLength(body) + '\\r\\nconnection: close\\r\\n\\r\\n' + body);
  setTimeout(() => s.destroy(), 2000).unref();
});
server.once('error', (err) => parentPort.postMessage({ error: err.message }));
server.listen({ host: workerData.host, port: workerData.port }, () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => { if (m === 'close') { server.close(); server.closeAllConnections(); parentPort.close(); } });
`;

export interface HealthState {
  shuttingDown: boolean;
  brokerHealthy: boolean;
}

export class HealthThread {
  private readonly shared = new SharedArrayBuffer(8);
  private readonly state = new Int32Array(this.shared);
  private readonly base = Date.now();
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  port = 0;

  constructor(
    private readonly read: () => HealthState,
    private readonly opts: { host: string; port: number; node: string; stallMs: number },
  ) {}

  async start(): Promise<void> {
    this.beat();
    this.timer = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.timer.unref();
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { shared: this.shared, base: this.base, stallMs: this.opts.stallMs, node: this.opts.node, host: this.opts.host, port: this.opts.port },
      // small heap: it holds a tiny HTTP server and nothing else
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    this.worker = worker;
    worker.unref();
    this.port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (m: { port?: number; error?: string }) => (m.port !== undefined ? resolve(m.port) : reject(new Error(m.error))));
    });
  }

  /** Called by the main loop: the heartbeat proves the loop runs; the flags carry the verdict. */
  beat(): void {
    const s = this.read();
    Atomics.store(this.state, 0, (s.shuttingDown ? FLAG_SHUTTING_DOWN : 0) | (s.brokerHealthy ? 0 : FLAG_BROKER_DOWN));
    Atomics.store(this.state, 1, Date.now() - this.base);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.postMessage('close');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    await w.terminate();
  }
}
