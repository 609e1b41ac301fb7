import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { EvidenceRecorder } from '../doctor/evidence-recorder.js';
import type { FailureBucket } from '../doctor/run-evidence.js';
import { FloodgateError } from '../errors.js';
import { diagnose } from './diagnosis.js';
import { benchExit } from './exit-code.js';
import { encodeHistogram, mergeEncoded, summarize } from './histograms.js';
import { judgePace } from './pace.js';
import { preflight } from './preflight.js';
import { readProcessCpu } from '../system/process-usage.js';
import { isIP } from 'node:net';
import { PortStatesReader } from '../system/port-states-reader.js';
import { buildTimeline, stagesFrom } from './schedule.js';
import { parseSegment, segmentLabel, segmentSourceIps, segmentStages, segmentTimeline } from './segment.js';
import { parseSourceIps, parseTarget } from './target.js';
import { checkThresholds, parseThreshold } from './thresholds.js';
import type { BenchOptions, BenchResult, ClockInfo, PlanSummary, SeriesPoint } from './types.js';
import type { DoneMessage, ParentMessage, TickMessage, WorkerConfig, WorkerMessage } from './worker-messages.js';
import { forkWorker, InProcessWorker, type WorkerHost } from './worker-host.js';

const LOOPBACK = /^(127\.|localhost$|::1$|0\.0\.0\.0$)/;

/**
 * A running bench: an EventEmitter (`plan`, `workers` (pids), `tick`, `holding`, `closing` (connections being torn down),
 * `done`, `error`) that is also awaitable and
 * resolves to the same result object `--json` prints (autocannon's shape). `stop()` ends a hold early.
 */
export class BenchRun extends EventEmitter implements PromiseLike<BenchResult> {
  readonly result: Promise<BenchResult>;
  stopRequested = false;
  private stopFn: () => void = () => {
    this.stopRequested = true;
  };

  constructor(start: (run: BenchRun) => Promise<BenchResult>) {
    super();
    this.result = Promise.resolve().then(() => start(this));
    this.result.then((r) => this.emit('done', r), (e: unknown) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
    });
  }

  then<A = BenchResult, B = never>(ok?: ((v: BenchResult) => A | PromiseLike<A>) | null, bad?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.result.then(ok, bad);
  }

  catch<B = never>(bad?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<BenchResult | B> {
    return this.result.catch(bad);
  }

  stop(): void {
    this.stopFn();
  }

  /** @internal */
  setStop(fn: () => void): void {
    this.stopFn = fn;
    if (this.stopRequested) fn();
  }
}

export function run(options: BenchOptions): BenchRun {
  return new BenchRun((r) => execute(options, r));
}

async function execute(o: BenchOptions, bench: BenchRun): Promise<BenchResult> {
  const target = parseTarget(o.url);
  const scenario = stagesFrom(o);
  const thresholds = o.thresholds ?? [];
  thresholds.forEach(parseThreshold);
  const segment = parseSegment(o.segment);
  // Redis (ioredis) is loaded only for runs that use it: ~15 MB RSS the others do not need
  const syncApi = o.sync === undefined ? undefined : await import('./sync.js');
  const sync = o.sync === undefined ? undefined : syncApi!.parseSyncUrl(o.sync);
  if (sync && !segment) throw new FloodgateError('FG_ERR_BENCH_SYNC', `Expected \`segment\` (i/N) with \`sync\` ${sync.url}: the barrier waits for N segments`);
  const requestedStart = parseStartAt(o.startAt);
  const syncTimeoutMs = o.syncTimeoutMs ?? 60_000;
  if (!(Number.isFinite(syncTimeoutMs) && syncTimeoutMs >= 0)) throw new FloodgateError('FG_ERR_BENCH_SYNC', `Expected \`syncTimeout\` to be a duration of 0 ms or more, got \`${o.syncTimeoutMs}\``);
  const label = o.label ?? hostname();
  let timeline = buildTimeline(scenario);
  let stages = scenario;
  let sourceIps = parseSourceIps(o.sourceIps);
  if (segment) {
    const whole = scenario[scenario.length - 1].connections;
    if (whole < segment.count) {
      throw new FloodgateError('FG_ERR_BENCH_PLAN', `Expected at most ${whole} segments for a scenario of ${whole} connections (every segment needs one), got \`segment\` ${segmentLabel(segment)}`);
    }
    stages = segmentStages(scenario, segment);
    timeline = segmentTimeline(timeline, segment);
    sourceIps = segmentSourceIps(sourceIps, segment);
  }
  const connections = timeline.offsets.length;
  // one read of every socket's state serves the pre-flight and the evidence's "before"
  // an IP target: only sockets with that address and port at one end (another program's on the same port number are not ours)
  // (the reader stays for the run's samples: the recorder closes it)
  const states = new PortStatesReader(target.port, isIP(target.host) ? target.host : undefined);
  const statesBefore = await states.read(true, { backlog: true });
  let plan: PlanSummary;
  try {
    plan = preflight({ connections, workers: o.workers, fdLimit: o.fdLimit, sourceIps, targetPort: target.port, force: o.force, timeWait: statesBefore.counts.states.TIME_WAIT ?? 0 });
  } catch (err) {
    await states.close();
    throw err;
  }
  bench.emit('plan', plan);
  const tickMs = o.tickMs ?? 1000;
  const W = plan.workers;

  const children: WorkerHost[] = [];
  const ready: Promise<void>[] = [];
  for (let w = 0; w < W; w++) {
    const child = plan.inProcess ? new InProcessWorker(w) : forkWorker(w);
    children.push(child);
    ready.push(new Promise((res, rej) => {
      child.once('message', () => res());
      child.once('exit', (code) => rej(new Error(`bench worker ${w} exited with code ${code} before starting`)));
    }));
  }
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
  };
  try {
    await Promise.all(ready);
  } catch (err) {
    killAll();
    await states.close();
    throw err;
  }
  // After `ready`: the workers have loaded their modules, so a caller's baseline excludes start-up.
  // worker processes only: a run held in this process has none
  bench.emit('workers', plan.inProcess ? [] : children.map((c) => c.pid));

  // The recorder's "before" reads every TCP socket of the host, which takes seconds on a busy one:
  // done first, so that a start agreed at the barrier is not spent reading /proc.
  const workerPids = plan.inProcess ? [] : children.map((c) => c.pid).filter((p): p is number => p !== undefined);
  const generatorCpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000 + workerPids.reduce((s, p) => s + (readProcessCpu(p)?.seconds ?? 0) * 1000, 0);
  };
  const recorder = new EvidenceRecorder({ url: target.url, host: target.host, port: target.port, local: LOOPBACK.test(target.host), serverPid: o.serverPid, generatorCpuMs, states });
  recorder.start(statesBefore);
  // Time zero: agreed at the barrier, given by --start-at, or just after the reads above.
  let startAt: number | undefined;
  let clock: ClockInfo = { startAt: '', source: 'local' };
  try {
    if (sync && segment) {
      bench.emit('barrier', { runId: sync.runId, segment: segmentLabel(segment) });
      const s = await syncApi!.waitAtBarrier({ target: sync, segment, label, timeoutMs: syncTimeoutMs, earliestStartAt: requestedStart });
      startAt = s.startAt;
      clock = { startAt: '', source: 'redis', skewMs: s.skewMs, rttMs: s.rttMs, runId: s.runId, waitedMs: s.waitedMs };
    } else if (requestedStart !== undefined) {
      const late = Date.now() - requestedStart;
      if (late > 1000) throw new FloodgateError('FG_ERR_BENCH_SYNC', `\`startAt\` ${new Date(requestedStart).toISOString()} is ${(late / 1000).toFixed(1)} s in the past on this machine's clock (now ${new Date().toISOString()}) once the workers were ready: pick a later start`);
      startAt = requestedStart;
      clock = { startAt: '', source: 'start-at' };
    }
  } catch (err) {
    killAll();
    await states.close();
    throw err;
  }
  startAt ??= Date.now() + 100 + W * 20;
  clock.startAt = new Date(startAt).toISOString();
  bench.emit('start', { ...clock });
  const holdForever = o.holdForever === true;
  const maxEnd = o.maxDurationMs !== undefined ? startAt + o.maxDurationMs : undefined;
  const plannedEnd = holdForever ? maxEnd ?? null : Math.min(startAt + timeline.endMs, maxEnd ?? Infinity);
  const workerRate = timeline.maxRate / W;

  const ticks = new Map<number, TickMessage[]>();
  const series: SeriesPoint[] = [];
  const done: DoneMessage[] = [];
  let peakFds = 0;
  let total = { open: 0, attempts: 0, successes: 0, failures: 0 };
  const lastOpen = new Array<number>(W).fill(0);
  const failureTotals: Record<string, number> = {};
  // planned starts per tick, from the timeline (walked once, in step with the ticks)
  let plannedIdx = 0;
  let plannedTotal = 0;
  const plannedUpTo = (ms: number): number => {
    while (plannedIdx < timeline.offsets.length && timeline.offsets[plannedIdx] < ms) plannedIdx++;
    return plannedIdx;
  };
  const plannedSeconds = plannedEnd === null ? null : Math.round((plannedEnd - startAt) / 100) / 10;

  let settled = false;
  const onTick = (m: TickMessage): void => {
    peakFds = Math.max(peakFds, m.fds);
    lastOpen[m.worker] = m.open;
    let list = ticks.get(m.n);
    if (!list) ticks.set(m.n, (list = []));
    list.push(m);
    if (list.length < W) return;
    ticks.delete(m.n);
    const hsHist = mergeEncoded(list.map((x) => x.handshake));
    const hs = summarize(hsHist);
    const p: SeriesPoint = {
      t: Math.round(((m.n + 1) * tickMs) / 100) / 10,
      open: list.reduce((s, x) => s + x.open, 0),
      attempts: list.reduce((s, x) => s + x.attempts, 0),
      successes: list.reduce((s, x) => s + x.successes, 0),
      failures: list.reduce((s, x) => s + x.failures, 0),
      handshakeP50: hs.p50,
      handshakeP99: hs.p99,
    };
    if (hsHist.totalCount > 0) p.handshakeHist = encodeHistogram(hsHist);
    const upTo = plannedUpTo((m.n + 1) * tickMs);
    p.planned = upTo - plannedTotal;
    plannedTotal = upTo;
    const kinds: Record<string, number> = {};
    for (const x of list) for (const [k, v] of Object.entries(x.failureKinds ?? {})) kinds[k] = (kinds[k] ?? 0) + v;
    for (const [k, v] of Object.entries(kinds)) failureTotals[k] = (failureTotals[k] ?? 0) + v;
    if (Object.keys(kinds).length > 0) p.failureKinds = kinds;
    if (p.attempts > 0) p.lagMeanMs = Math.round(list.reduce((s, x) => s + (x.lagSumMs ?? 0), 0) / p.attempts);
    if (p.attempts > 0) p.lagMaxMs = Math.max(...list.map((x) => x.lagMaxMs ?? 0));
    p.behind = list.reduce((s, x) => s + (x.behind ?? 0), 0);
    p.cpu = Math.max(...list.map((x) => x.cpu ?? 0));
    series.push(p);
    total = { open: p.open, attempts: total.attempts + p.attempts, successes: total.successes + p.successes, failures: total.failures + p.failures };
    bench.emit('tick', {
      ...p, total: { ...total }, target: connections, plannedTotal, plannedSeconds, requestedRate: timeline.maxRate, failureTotals: { ...failureTotals },
    });
    if (!settled && total.successes + total.failures >= connections) {
      settled = true;
      // every attempt has an outcome: the socket tables are at their fullest now
      recorder.sample(true);
      // and no new connection comes from this run: the accept queue has nothing left to show, the
      // server's liveness and CPU are enough every 2 s
      if (sampler !== undefined) {
        clearInterval(sampler);
        sampler = setInterval(() => recorder.sample(), 2000);
      }
      bench.emit('holding', { open: p.open, t: p.t });
    }
  };

  // the first worker to tear down announces it with everyone's open count; the rest are under way too
  let closingSaid = false;
  const onClosing = (open: number): void => {
    if (closingSaid) return;
    closingSaid = true;
    const sum = lastOpen.reduce((s, x) => s + x, 0);
    bench.emit('closing', { open: Math.max(open, sum), t: Math.round((Date.now() - startAt) / 100) / 10 });
  };

  const finished = new Promise<void>((resolve) => {
    let left = W;
    children.forEach((child, w) => {
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'tick') onTick(m);
        else if (m.type === 'closing') onClosing(m.open);
        else if (m.type === 'done') {
          done.push(m);
          if (--left === 0) resolve();
        }
      });
      child.on('exit', () => {
        if (!done.some((d) => d.worker === w)) {
          done.push({ type: 'done', worker: w, attempts: 0, opened: 0, held: 0, peakOpen: 0, failures: [{ kind: 'generator.worker_exit', phase: 'generator', side: 'generator', count: 1, example: `worker ${w} exited with code ${child.exitCode} signal ${child.signalCode}` }], messagesSent: 0, messagesReceived: 0, peakFds: 0, histograms: {} });
          if (--left === 0) resolve();
        }
      });
    });
  });

  // from the start on: before it (a --start-at or barrier wait, 30 s in the benchmark) nothing
  // happens that sampling could see, and each tick's accept-queue read still costs
  let sampler: NodeJS.Timeout | undefined;
  // (every 500 ms: each tick reads the accept queue, ~0.3 ms of CPU here; a queue that overflows stays full longer than that)
  const samplerStart = setTimeout(() => (sampler = setInterval(() => recorder.sample(), 500)), Math.max(0, startAt - Date.now()));
  // and once just before the workers tear down at the planned end, unless the sample taken when
  // every attempt had settled already saw the tables at their fullest (250 ms ahead: the read is
  // answered by a helper process, tens of ms later on a busy host)
  const lastSample = plannedEnd === null ? undefined : setTimeout(() => {
    if (!settled) recorder.sample(true);
  }, Math.max(0, plannedEnd - Date.now() - 250));
  const stopAll = (): void => {
    for (const c of children) if (c.connected) c.send({ type: 'stop' } satisfies ParentMessage);
  };
  bench.setStop(stopAll);
  children.forEach((child, w) => {
    const offsets: number[] = [];
    for (let i = w; i < timeline.offsets.length; i += W) offsets.push(timeline.offsets[i]);
    const config: WorkerConfig = {
      index: w,
      workers: W,
      target: { kind: target.kind, host: target.host, port: target.port, path: target.path, hostHeader: target.hostHeader },
      protocol: o.protocol,
      headers: o.headers,
      startAt,
      offsets,
      sourceIps,
      endAt: plannedEnd,
      expectedIntervalUs: workerRate > 0 ? Math.round(1_000_000 / workerRate) : 0,
      subscribe: o.subscribe,
      openText: o.openText,
      publishRate: o.publishRate,
      payload: o.payload,
      insecure: o.insecure === true,
      connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
      handshakeTimeoutMs: o.handshakeTimeoutMs ?? 10_000,
      teardown: o.teardown ?? (target.kind === 'tcp' ? 'reset' : 'clean'),
      tickMs,
    };
    child.send({ type: 'start', config } satisfies ParentMessage);
  });

  try {
    await finished;
  } finally {
    clearTimeout(samplerStart);
    clearInterval(sampler);
    clearTimeout(lastSample);
    for (const c of children) if (c.connected) c.disconnect();
    setTimeout(killAll, 2000).unref();
  }

  // Merge what the workers saw.
  const buckets = new Map<string, FailureBucket>();
  for (const d of done) {
    for (const b of d.failures) {
      const have = buckets.get(b.kind);
      if (!have) buckets.set(b.kind, { ...b, retryAfter: b.retryAfter ? [...b.retryAfter] : undefined });
      else {
        have.count += b.count;
        for (const r of b.retryAfter ?? []) if (!have.retryAfter?.includes(r)) (have.retryAfter ??= []).push(r);
      }
    }
  }
  const failures = [...buckets.values()].sort((a, b) => b.count - a.count);
  for (const f of failures) if (f.retryAfter === undefined) delete f.retryAfter;
  const names = ['connect', 'handshake', 'correctedHandshake', 'firstMessage', 'message', 'startLag'];
  const merged = Object.fromEntries(names.map((n) => [n, mergeEncoded(done.map((d) => d.histograms[n] ?? ''))]));
  const attempts = done.reduce((s, d) => s + d.attempts, 0);
  const successes = done.reduce((s, d) => s + d.held, 0);
  const totals = {
    attempts,
    opened: done.reduce((s, d) => s + d.opened, 0),
    successes,
    failures: failures.reduce((s, b) => s + b.count, 0),
    successRate: attempts > 0 ? Math.round((successes / attempts) * 1e6) / 1e6 : 0,
    // Per-tick sums can miss a peak between ticks; one worker knows its own exactly; and every
    // connection held at the end was open at the same moment (on a slow machine the last
    // connections may open after the last tick that saw them all).
    peakOpen: Math.max(series.reduce((m, p) => Math.max(m, p.open), 0), W === 1 ? done[0]?.peakOpen ?? 0 : 0, successes),
    messagesSent: done.reduce((s, d) => s + d.messagesSent, 0),
    messagesReceived: done.reduce((s, d) => s + d.messagesReceived, 0),
  };
  const latencyMs = {
    connect: summarize(merged.connect),
    handshake: summarize(merged.handshake),
    firstMessage: summarize(merged.firstMessage),
    message: summarize(merged.message),
    startLag: summarize(merged.startLag),
  };
  const slow = countAtOrAbove(merged.connect, 1_000_000);
  const lastOpenAt = Math.max(...done.map((d) => d.lastOpenAt ?? -Infinity));
  const firstEarlyClose = Math.min(...done.map((d) => d.firstEarlyCloseAt ?? Infinity));
  const evidence = await recorder.finish({
    attempts,
    successes,
    failures,
    generator: {
      processes: W,
      fdLimitPerProcess: plan.fdLimitPerProcess,
      peakFdsPerProcess: Math.max(peakFds, ...done.map((d) => d.peakFds)),
      sourceIps,
      // the sum of each worker's peak: exact with one worker, an upper bound with several
      peakInFlight: done.reduce((s, d) => s + (d.peakInFlight ?? 0), 0),
    },
    connectLatencyMs: latencyMs.connect.count > 0 ? { p50: latencyMs.connect.p50, p99: latencyMs.connect.p99, max: latencyMs.connect.max, atOrAboveOneSecond: slow } : undefined,
    series: series.map((p) => ({ t: p.t, attempts: p.attempts, successes: p.successes, failures: p.failures })),
    order: {
      lastOpenAt: Number.isFinite(lastOpenAt) ? lastOpenAt : undefined,
      firstEarlyCloseAt: Number.isFinite(firstEarlyClose) ? firstEarlyClose : undefined,
    },
    floodgate: done.some((d) => d.welcome === true),
  });
  const base = { totals, latencyMs };
  const result: BenchResult = {
    schema: 'floodgate.bench/1',
    target: { url: target.url, kind: target.kind, host: target.host, port: target.port },
    startedAt: evidence.startedAt,
    durationMs: Math.round(evidence.durationMs),
    stages,
    plan,
    totals,
    latencyMs,
    correctedHandshakeMs: summarize(merged.correctedHandshake),
    histograms: Object.fromEntries(Object.entries(merged).map(([k, h]) => [k, encodeHistogram(h)])),
    series,
    failures,
    thresholds: checkThresholds(base, thresholds),
    evidence,
    machine: { label, hostname: hostname() },
    clock,
  };
  if (segment) result.segment = { index: segment.index, count: segment.count, scenario };
  result.settings = {
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 10_000,
    teardown: o.teardown ?? (target.kind === 'tcp' ? 'reset' : 'clean'),
    protocol: o.protocol,
    headerNames: Object.keys(o.headers ?? {}),
    subscribe: o.subscribe,
    publishRate: o.publishRate,
    rawPayload: o.payload !== undefined,
    holdForever,
    maxDurationMs: o.maxDurationMs,
    thresholds,
    serverPid: o.serverPid,
  };
  result.pace = judgePace(series, timeline.maxRate, latencyMs.startLag, failures);
  if (result.pace === undefined) delete result.pace;
  result.diagnosis = diagnose(evidence);
  result.exit = benchExit(result);
  if (sync && segment) {
    try {
      bench.emit('stored', { ...(await syncApi!.pushResult(sync, segment, JSON.stringify(result))), runId: sync.runId });
    } catch (err) {
      // the run is done and the caller still gets its result: say so, do not throw it away
      bench.emit('warning', (err as Error).message);
    }
  }
  return result;
}

/** `--start-at`: ISO 8601 (with a zone) or epoch ms. */
function parseStartAt(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t) || (typeof v === 'string' && !/^\d+$/.test(v) && !/(Z|[+-]\d\d:?\d\d)$/i.test(v.trim()))) {
    throw new FloodgateError('FG_ERR_BENCH_SYNC', `Expected \`startAt\` as an ISO 8601 time with a zone (e.g. 2026-12-01T21:00:00Z) or epoch ms, got \`${v}\``);
  }
  return t;
}

/** Count of recorded values at or above `us` (connects stuck behind SYN retransmits). */
function countAtOrAbove(h: ReturnType<typeof mergeEncoded>, us: number): number {
  if (h.totalCount === 0 || h.maxValue < us) return 0;
  // Percentile search: the share of values below `us`.
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (h.getValueAtPercentile(mid) < us) lo = mid;
    else hi = mid;
  }
  return Math.round(((100 - lo) / 100) * h.totalCount);
}
