import { setFlagsFromString } from 'node:v8';
import type { FailureBucket } from '../doctor/run-evidence.js';
import { countOpenFds } from '../system/process-usage.js';
import { Connection, prepareUpgrade, type ConnectionHooks, type ConnectionTarget, type Failure } from './connection.js';
import { correctedCopy, encodeHistogram, newHistogram, recordUs } from './histograms.js';
import { LocalPorts } from './local-ports.js';
import type { DoneMessage, ParentMessage, WorkerConfig, WorkerMessage } from './worker-messages.js';

/** Connections started per timer turn before yielding to I/O, so a burst does not starve handshakes. */
const BATCH = 256;
/** How often attempts past their connect or upgrade timeout are looked for, ms (the timeouts' resolution). */
const SWEEP_MS = 100;

const sendToParent = (m: WorkerMessage): void => {
  process.send?.(m);
};

/**
 * V8's young generation starts at 1 MiB per semi-space and doubles under allocation up to 16 MiB
 * (32 MiB for the pair): for a generator that allocates a little per connection and holds
 * thousands, that growth is several KB of RSS per held connection for nothing. Forked workers
 * start with --max-semi-space-size=1 (worker-host.ts); the `floodgate bench` command, which may
 * hold a small run in its own process, calls this at start: a maximum cannot be given after V8
 * started, but the growth factor is read at each growth, so from then on the young generation
 * keeps the size it has. It is a process-wide V8 flag, so `runWorker` never sets it itself: a
 * program that embeds `run()` keeps its own heap settings. Left alone when the user sized it.
 */
export function keepYoungGenerationSmall(): void {
  const set = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /semi-space/.test(a));
  if (!set) setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Runs one worker's share of a plan: inside a forked process (messages to the parent over IPC), or
 * inside the coordinator itself for runs one process can hold (`send` hands messages over directly).
 */
export function runWorker(cfg: WorkerConfig, send: (m: WorkerMessage) => void = sendToParent): { stop: () => void } {
  const hist = {
    connect: newHistogram(),
    handshake: newHistogram(),
    /** Planned start → open: corrected for coordinated omission once, at the end (see `done`). */
    fromPlanned: newHistogram(),
    firstMessage: newHistogram(),
    message: newHistogram(),
    startLag: newHistogram(),
  };
  let tickHs = newHistogram();
  const buckets = new Map<string, FailureBucket>();
  const conns: Connection[] = [];
  let attempts = 0;
  let opened = 0;
  let open = 0;
  let peakOpen = 0;
  let failures = 0;
  let tickAttempts = 0;
  let tickSuccesses = 0;
  let tickFailures = 0;
  let tickKinds: Record<string, number> = {};
  let tickLagSum = 0;
  let tickLagMax = 0;
  let messagesSent = 0;
  let messagesReceived = 0;
  let peakFds = 0;
  let inFlight = 0;
  let peakInFlight = 0;
  let lastOpenAt: number | undefined;
  let firstEarlyCloseAt: number | undefined;
  let welcome = false;
  let next = 0;
  let stopped = false;
  let publishTimer: NodeJS.Timeout | undefined;
  const target: ConnectionTarget = { ...cfg.target, insecure: cfg.insecure === true };
  // ports chosen here only where connections bind to a source address (see local-ports.ts)
  if (cfg.sourceIps.length > 0) target.ports = LocalPorts.forWorker(cfg.index, cfg.workers);
  if (cfg.target.kind !== 'tcp') prepareUpgrade(target, cfg.target.hostHeader, cfg.protocol, cfg.headers);
  const subscribeText = cfg.openText ?? (cfg.subscribe ? JSON.stringify({ type: 'subscribe', channel: cfg.subscribe }) : undefined);
  const now = (): number => performance.timeOrigin + performance.now();

  const addFailure = (f: Failure): void => {
    const kind = `${f.phase}.${f.detail}` as FailureBucket['kind'];
    let b = buckets.get(kind);
    if (!b) {
      b = { kind, phase: f.phase, side: f.side, count: 0, example: f.example };
      buckets.set(kind, b);
    }
    b.count++;
    tickKinds[kind] = (tickKinds[kind] ?? 0) + 1;
    if (f.retryAfter !== undefined) {
      b.retryAfter ??= [];
      if (!b.retryAfter.includes(f.retryAfter) && b.retryAfter.length < 20) b.retryAfter.push(f.retryAfter);
    }
  };

  /** One hooks object for every connection of this worker: a held connection owns no closures. */
  const hooks: ConnectionHooks = {
    onConnect: (_c, us) => recordUs(hist.connect, us),
    onOpen: (c, us) => {
      inFlight--;
      const openedAt = now();
      c.openedAt = openedAt;
      lastOpenAt = openedAt;
      opened++;
      open++;
      tickSuccesses++;
      if (open > peakOpen) peakOpen = open;
      recordUs(hist.handshake, us);
      recordUs(tickHs, us);
      recordUs(hist.fromPlanned, Math.round((openedAt - c.planned) * 1000));
      if (subscribeText && c.send(subscribeText)) messagesSent++;
    },
    onFail: (c, f) => {
      // called before the connection leaves its state: 2 means it had opened
      const wasOpen = c.state === 2;
      if (stopped && wasOpen) return;
      if (wasOpen) open--;
      else {
        inFlight--;
        // closed or reset before any answer: the order against successes tells a server out of fds
        if (firstEarlyCloseAt === undefined && f.phase !== 'generator' && /^(closed|ECONNRESET|EPIPE)$/.test(f.detail)) firstEarlyCloseAt = now();
      }
      failures++;
      tickFailures++;
      addFailure(f);
    },
    onText: (c, text) => {
      messagesReceived++;
      const t1 = now();
      if (!c.gotFirst) {
        c.gotFirst = true;
        if (text.startsWith('{"type":"welcome"')) welcome = true;
        recordUs(hist.firstMessage, Math.round((t1 - c.openedAt) * 1000));
      }
      const i = text.indexOf('"t":');
      if (i >= 0) {
        const sent = Number.parseFloat(text.slice(i + 4));
        if (Number.isFinite(sent) && sent > 0 && sent <= t1 + 1) recordUs(hist.message, Math.round((t1 - sent) * 1000));
      }
    },
  };

  /**
   * Attempts still connecting or upgrading, and clean closes under way, in start order: one sweep
   * every SWEEP_MS fails those past their deadline (a timer per connection cost a Timeout object
   * and a timer-list insert and removal each).
   */
  let watched: Connection[] = [];
  const sweep = (): void => {
    const t = performance.now();
    let keep = 0;
    for (let i = 0; i < watched.length; i++) {
      const c = watched[i];
      if (c.state === 3 || (c.state === 2 && !c.closing)) continue;
      if (t >= c.deadline) {
        c.expire();
        if (c.state === 3) continue;
      }
      watched[keep++] = c;
    }
    watched.length = keep;
    if (keep === 0 && sweepTimer !== undefined) {
      clearInterval(sweepTimer);
      sweepTimer = undefined;
    }
  };
  let sweepTimer: NodeJS.Timeout | undefined;
  const watch = (c: Connection): void => {
    watched.push(c);
    sweepTimer ??= setInterval(sweep, SWEEP_MS);
  };

  const startOne = (k: number): void => {
    const planned = cfg.startAt + cfg.offsets[k];
    const t = now();
    recordUs(hist.startLag, Math.round((t - planned) * 1000));
    const lag = Math.max(0, t - planned);
    tickLagSum += lag;
    if (lag > tickLagMax) tickLagMax = lag;
    attempts++;
    tickAttempts++;
    if (++inFlight > peakInFlight) peakInFlight = inFlight;
    const c = new Connection(target, hooks, cfg.connectTimeoutMs, cfg.handshakeTimeoutMs);
    c.planned = planned;
    conns.push(c);
    const global = cfg.index + k * cfg.workers;
    c.start(cfg.sourceIps.length > 0 ? cfg.sourceIps[global % cfg.sourceIps.length] : undefined);
    if (c.state < 3) watch(c);
  };

  let scheduleTimer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (stopped) return;
    let n = 0;
    const t = now() - cfg.startAt;
    while (next < cfg.offsets.length && cfg.offsets[next] <= t && n < BATCH) {
      startOne(next++);
      n++;
    }
    if (next >= cfg.offsets.length) return;
    const wait = n === BATCH ? 0 : Math.max(0, cfg.offsets[next] - (now() - cfg.startAt));
    scheduleTimer = n === BATCH ? (setImmediate(schedule) as unknown as NodeJS.Timeout) : setTimeout(schedule, wait);
  };

  if (cfg.publishRate && cfg.publishRate > 0) {
    const channel = cfg.subscribe ?? 'bench';
    let id = 0;
    // One timer per worker walks its open connections, so publishing costs no timer per connection.
    const everyMs = Math.max(10, Math.min(1000, 1000 / cfg.publishRate));
    const perTurn = (cfg.publishRate * everyMs) / 1000;
    let carry = 0;
    publishTimer = setInterval(() => {
      carry += perTurn;
      const rounds = Math.floor(carry);
      carry -= rounds;
      for (let r = 0; r < rounds; r++) {
        for (const c of conns) {
          if (c.state !== 2 || c.closing) continue;
          const text = cfg.payload ?? `{"type":"publish","id":${++id},"channel":${JSON.stringify(channel)},"data":{"t":${now()}}}`;
          if (c.send(text)) messagesSent++;
        }
      }
    }, everyMs);
  }

  let tickN = 0;
  let fds = 0;
  let fdsReadAt = -Infinity;
  /**
   * Reading /proc/self/fd costs in proportion to the fds held (about 2 ms per 1,000): every tick
   * while few are open, at most every 15 s beyond 2,000, and always at the end (the peak is read
   * just before the teardown).
   */
  const readFds = (force: boolean): void => {
    const t = now();
    if (!force && fds > 2000 && t - fdsReadAt < 15_000) return;
    fdsReadAt = t;
    fds = countOpenFds('self') ?? fds;
    if (fds > peakFds) peakFds = fds;
  };
  let cpuAt = process.cpuUsage();
  let cpuWall = now();
  /** Due but not started: offsets up to now (binary search; they are sorted) minus those started. */
  const dueNotStarted = (): number => {
    if (stopped) return 0;
    const t = now() - cfg.startAt;
    let lo = next;
    let hi = cfg.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cfg.offsets[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo - next;
  };
  const tick = (final = false): void => {
    readFds(final);
    const cpuNow = process.cpuUsage();
    const wall = now();
    // a short final tick (after teardown) would turn a few ms of closing work into a bogus share
    const cpu = wall - cpuWall >= cfg.tickMs / 2 ? (cpuNow.user - cpuAt.user + cpuNow.system - cpuAt.system) / 1000 / (wall - cpuWall) : 0;
    cpuAt = cpuNow;
    cpuWall = wall;
    send({
      type: 'tick', worker: cfg.index, n: tickN++, open, attempts: tickAttempts, successes: tickSuccesses, failures: tickFailures,
      handshake: tickHs.totalCount > 0 ? encodeHistogram(tickHs) : '', fds,
      failureKinds: tickKinds, lagSumMs: Math.round(tickLagSum), lagMaxMs: Math.round(tickLagMax), behind: dueNotStarted(), cpu: Math.round(cpu * 100) / 100,
    });
    tickAttempts = tickSuccesses = tickFailures = 0;
    tickKinds = {};
    tickLagSum = tickLagMax = 0;
    tickHs = newHistogram();
  };
  let tickTimer: NodeJS.Timeout | undefined;
  const firstTick = setTimeout(() => {
    tick();
    tickTimer = setInterval(() => tick(), cfg.tickMs);
  }, Math.max(0, cfg.startAt + cfg.tickMs - now()));

  /** At the planned end, attempts still under way get until their own timeouts before they count as unfinished. */
  const endGracefully = (): void => {
    clearTimeout(scheduleTimer);
    while (next < cfg.offsets.length) startOne(next++);
    const deadline = now() + cfg.connectTimeoutMs + cfg.handshakeTimeoutMs;
    const poll = (): void => {
      if (stopped) return;
      if (inFlight > 0 && now() < deadline) setTimeout(poll, 50);
      else stop();
    };
    poll();
  };

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearTimeout(scheduleTimer);
    clearInterval(publishTimer);
    for (const c of conns) c.abandon();
    const held = open;
    send({ type: 'closing', worker: cfg.index, open: held });
    // the peak is with every connection still open, before the teardown
    readFds(true);
    for (const c of conns) if (c.close(cfg.teardown)) watch(c);
    // Give clean closes their grace, then report.
    const wait = cfg.teardown === 'clean' && held > 0 ? Math.min(2500, 200 + held / 10) : 50;
    setTimeout(() => {
      clearTimeout(firstTick);
      clearInterval(tickTimer);
      tick(true);
      const done: DoneMessage = {
        type: 'done',
        worker: cfg.index,
        attempts,
        opened,
        held,
        peakOpen,
        failures: [...buckets.values()],
        messagesSent,
        messagesReceived,
        peakFds,
        peakInFlight,
        lastOpenAt,
        firstEarlyCloseAt,
        welcome,
        histograms: {
          connect: encodeHistogram(hist.connect),
          handshake: encodeHistogram(hist.handshake),
          // HdrHistogram's post-hoc correction gives the same counts as correcting at each record,
          // but costs per recorded bucket instead of per connection (it was ~8% of a worker's CPU)
          correctedHandshake: encodeHistogram(cfg.expectedIntervalUs > 0 ? correctedCopy(hist.fromPlanned, cfg.expectedIntervalUs) : hist.handshake),
          firstMessage: encodeHistogram(hist.firstMessage),
          message: encodeHistogram(hist.message),
          startLag: encodeHistogram(hist.startLag),
        },
      };
      send(done);
      for (const c of conns) c.close('reset');
      conns.length = 0;
      watched = [];
      clearInterval(sweepTimer);
      sweepTimer = undefined;
    }, wait);
  };

  const startTimer = setTimeout(schedule, Math.max(0, cfg.startAt - now()));
  if (cfg.endAt !== null) {
    setTimeout(() => {
      clearTimeout(startTimer);
      endGracefully();
    }, Math.max(0, cfg.endAt - now()));
  }
  return { stop };
}

/** Entry point when forked by the coordinator. */
if (process.send && process.env.FLOODGATE_BENCH_WORKER === '1') {
  keepYoungGenerationSmall();
  let handle: { stop: () => void } | undefined;
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'start') handle = runWorker(m.config);
    else if (m.type === 'stop') handle?.stop();
  });
  process.on('disconnect', () => process.exit(0));
  sendToParent({ type: 'ready', worker: Number(process.env.FLOODGATE_BENCH_WORKER_INDEX ?? 0) });
}
