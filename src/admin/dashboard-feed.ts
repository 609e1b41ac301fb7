import type { ServerResponse } from 'node:http';
import type { MachineStats } from './machine-stats.js';
import type { GatewayStats } from '../server/stats.js';

type Reason = keyof GatewayStats['admission']['rejected'];

/** One update of the page: levels as they are, counters as totals and as per-second rates. */
export interface DashboardSample {
  /** Unix time, seconds (uPlot's x axis). */
  t: number;
  node: string;
  pid: number;
  uptimeSeconds: number;
  connections: GatewayStats['connections'];
  totals: {
    admitted: number;
    admittedAfterWait: number;
    rejected: Record<Reason, number>;
    rejectedAll: number;
    slowConsumersClosed: number;
    rateLimited: number;
    replayRequests: number;
    messagesIn: number;
    messagesOut: number;
    /** `presence` frames answered, and those the broker could not answer. */
    presenceRequests: number;
    presenceFailures: number;
  };
  /** Per second over the last tick; 0 in the first sample. */
  rates: {
    admitted: number;
    admittedAfterWait: number;
    rejected: Record<Reason, number>;
    rejectedAll: number;
    messagesIn: number;
    messagesOut: number;
    slowConsumersClosed: number;
    rateLimited: number;
    replayRequests: number;
    presenceRequests: number;
  };
  /** Presence entries held (broker.presenceEntries: memory, all; --workers, the primary's for all; Redis, this node's); null when the broker reports none. */
  presenceEntries: number | null;
  memory: { rss: number; limit: number; limitSource: string };
  fds: { open: number | null; limit: number | null };
  /** With `serve --workers`: the sample is machine-wide (summed from /stats/machine), with one row per worker. */
  machine?: { expected: number; answered: number; missing: number[]; perWorker: MachineStats['perWorker'] };
}

export interface DashboardFeedOptions {
  stats: () => GatewayStats;
  /** Sent once to each new watcher (the effective settings, the node). */
  intro: () => unknown;
  /** Tick period; the page promises at most one update per second. */
  intervalMs?: number;
  /** Samples kept so a tab opened mid-run starts with the last minutes (default 600: 10 minutes at 1/s). */
  historyLength?: number;
  /** False once the gateway is shutting down: sampling stops for good. */
  alive?: () => boolean;
  /** A watcher that has this much unsent is dropped rather than buffered without bound. */
  maxBufferedBytes?: number;
}

const REASONS: Reason[] = ['over_capacity', 'admission_timeout', 'accept_timeout', 'fd_budget', 'shutting_down', 'unauthorized', 'forbidden_origin'];

function totalsOf(s: GatewayStats): DashboardSample['totals'] {
  const rejected = { ...s.admission.rejected };
  let all = 0;
  for (const r of REASONS) all += rejected[r];
  return {
    admitted: s.admission.admitted,
    admittedAfterWait: s.admission.admittedAfterWait,
    rejected,
    rejectedAll: all,
    slowConsumersClosed: s.closed.slow_consumer,
    rateLimited: s.messages.rateLimited,
    replayRequests: s.messages.replayRequests,
    messagesIn: s.messages.in,
    messagesOut: s.messages.out,
    presenceRequests: s.messages.presenceRequests,
    presenceFailures: s.messages.presenceFailures,
  };
}

/**
 * Server-Sent Events to every open dashboard. One sample per second goes into a bounded ring
 * (10 minutes by default) whether or not anyone watches, so a tab opened mid-run starts with the
 * last minutes instead of two points; a sample is one stats() read, a few hundred bytes. It is
 * serialised once per tick, only while someone watches, and the same bytes go to every watcher.
 */
export class DashboardFeed {
  private readonly watchers = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private prev: { at: number; totals: DashboardSample['totals'] } | undefined;
  private readonly history: DashboardSample[] = [];
  private machineSource: (() => Promise<MachineStats>) | undefined;
  private asking = false;
  private readonly intervalMs: number;
  private readonly historyLength: number;
  private readonly maxBuffered: number;
  /** Ticks since construction (tests and the benchmark read it). */
  ticks = 0;

  constructor(private readonly opts: DashboardFeedOptions) {
    this.intervalMs = Math.max(1000, opts.intervalMs ?? 1000);
    this.historyLength = opts.historyLength ?? 600;
    this.maxBuffered = opts.maxBufferedBytes ?? 256 * 1024;
    this.start();
  }

  get watching(): number {
    return this.watchers.size;
  }

  get ticking(): boolean {
    return this.timer !== undefined;
  }

  /**
   * `serve --workers`: sample the machine (every worker summed, from the primary) instead of this
   * worker, so every worker's page shows the same machine-wide view whichever worker a tab lands on.
   */
  useMachineStats(source: () => Promise<MachineStats>): void {
    this.machineSource = source;
    this.prev = undefined;
    this.history.length = 0;
  }

  /** Turns a GET into an event stream: intro, the recent samples, then one sample per tick. */
  attach(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx would otherwise hold the stream
    });
    res.socket?.setNoDelay(true);
    if (this.timer === undefined) this.start();
    this.watchers.add(res);
    res.on('close', () => this.detach(res));
    res.write(`retry: 2000\nevent: intro\ndata: ${JSON.stringify(this.opts.intro())}\n\n`);
    const backlog = this.history.length ? this.history : [this.sample()];
    res.write(`event: history\ndata: ${JSON.stringify(backlog)}\n\n`);
  }

  /** Ends every stream (gateway shutdown). */
  close(): void {
    for (const res of this.watchers) res.end();
    this.watchers.clear();
    this.stop();
  }

  private detach(res: ServerResponse): void {
    this.watchers.delete(res);
  }

  private start(): void {
    this.prev = undefined;
    this.history.length = 0;
    this.history.push(this.sample());
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.prev = undefined;
    this.history.length = 0;
  }

  private tick(): void {
    if (this.opts.alive && !this.opts.alive()) {
      this.close();
      return;
    }
    this.ticks++;
    if (this.machineSource) {
      if (this.asking) return; // the primary is slow: skip a tick rather than queue asks
      this.asking = true;
      this.machineSource().then(
        (m) => this.record(this.sample(machineAsStats(m, this.opts.stats()), m)),
        () => undefined, // the primary did not answer: no sample this second, rather than one worker's numbers in a machine chart
      ).finally(() => (this.asking = false));
      return;
    }
    this.record(this.sample());
  }

  private record(s: DashboardSample): void {
    this.history.push(s);
    if (this.history.length > this.historyLength) this.history.shift();
    if (this.watchers.size === 0) return;
    const frame = `data: ${JSON.stringify(s)}\n\n`;
    for (const res of this.watchers) {
      if (res.writableLength > this.maxBuffered) {
        // a tab that stopped reading: drop it, the browser's EventSource reconnects by itself
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  }

  private sample(st: GatewayStats = this.opts.stats(), machine?: MachineStats): DashboardSample {
    const now = Date.now();
    const totals = totalsOf(st);
    const prev = this.prev;
    const dt = prev ? Math.max(0.001, (now - prev.at) / 1000) : 0;
    const rate = (a: number, b: number | undefined): number => (prev && b !== undefined ? Math.max(0, (a - b) / dt) : 0);
    const rejected = {} as Record<Reason, number>;
    for (const r of REASONS) rejected[r] = rate(totals.rejected[r], prev?.totals.rejected[r]);
    this.prev = { at: now, totals };
    return {
      t: now / 1000,
      node: st.node,
      pid: st.pid,
      uptimeSeconds: st.uptimeSeconds,
      connections: st.connections,
      totals,
      rates: {
        admitted: rate(totals.admitted, prev?.totals.admitted),
        admittedAfterWait: rate(totals.admittedAfterWait, prev?.totals.admittedAfterWait),
        rejected,
        rejectedAll: rate(totals.rejectedAll, prev?.totals.rejectedAll),
        messagesIn: rate(totals.messagesIn, prev?.totals.messagesIn),
        messagesOut: rate(totals.messagesOut, prev?.totals.messagesOut),
        slowConsumersClosed: rate(totals.slowConsumersClosed, prev?.totals.slowConsumersClosed),
        rateLimited: rate(totals.rateLimited, prev?.totals.rateLimited),
        replayRequests: rate(totals.replayRequests, prev?.totals.replayRequests),
        presenceRequests: rate(totals.presenceRequests, prev?.totals.presenceRequests),
      },
      presenceEntries: st.broker.presenceEntries ?? null,
      memory: { rss: st.memory.rss, limit: st.memory.limit, limitSource: st.memory.limitSource },
      fds: { open: st.fds.open ?? null, limit: st.fds.limit ?? null },
      ...(machine ? { machine: { expected: machine.workers.expected, answered: machine.workers.answered, missing: machine.workers.missing, perWorker: machine.perWorker } } : {}),
    };
  }
}

/**
 * The machine sums in the shape of one gateway's stats, for the same page. Memory: the workers'
 * shares added up. fds are per process, so the bar shows the busiest worker against its limit.
 */
export function machineAsStats(m: MachineStats, local: GatewayStats): GatewayStats {
  const workers = Math.max(1, m.workers.expected);
  const busiestFds = Math.max(0, ...m.perWorker.map((w) => w.fds ?? 0));
  return {
    ...local,
    node: `${m.workers.answered} of ${m.workers.expected} workers`,
    // the cap is the machine's even when a worker is slow to answer (every worker holds an equal share)
    connections: { ...m.connections, cap: Math.max(m.connections.cap, local.connections.cap * workers), peak: m.perWorker.reduce((t, w) => t + w.peak, 0), capOrigin: local.connections.capOrigin },
    admission: m.admission,
    closed: m.closed,
    messages: m.messages,
    memory: { ...local.memory, rss: m.memory.rss, limit: local.memory.limit * workers, limitSource: `${local.memory.limitSource}, ${workers} worker shares` },
    fds: { open: busiestFds, limit: local.fds.limit },
  };
}
