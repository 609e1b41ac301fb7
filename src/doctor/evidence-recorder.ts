import { isIP } from 'node:net';
import { counterDelta, readKernelCounters, type KernelCounters } from '../system/kernel-counters.js';
import { readFdLimits, readSomaxconn } from '../system/limits.js';
import { inOwnNetns } from '../system/netns-counters.js';
import { readProcessCpu, type ProcessCpu } from '../system/process-usage.js';
import { readListeners } from '../system/listeners.js';
import { countOpenFds } from '../system/process-usage.js';
import { PortStatesReader, type PortStatesRead } from '../system/port-states-reader.js';
import { listenerFamilies, readListenQueue, type PortStateCount } from '../system/socket-states.js';
import { SamplePacer, type SampleKind } from './sample-pacer.js';
import { readRunSettings } from '../system/sysctl-set.js';
import type { FailureBucket, RunEvidence } from './run-evidence.js';

export interface RecorderTarget {
  url: string;
  host: string;
  port: number;
  /** The target is on this machine (its listener and socket states are visible here). */
  local: boolean;
  serverPid?: number;
  /**
   * CPU ms the load generator has used so far, all its processes: sampling then takes at most
   * SAMPLE_SHARE of it. Without it, at most SAMPLE_SHARE of one core.
   */
  generatorCpuMs?: () => number;
  /** The reader of the port's states to use (e.g. the one the pre-flight read with); finish() closes it. */
  states?: PortStatesReader;
}

export interface RunOutcome {
  attempts: number;
  successes: number;
  failures: FailureBucket[];
  generator: Omit<RunEvidence['generator'], 'portRange' | 'timeWaitToTarget'> & Partial<Pick<RunEvidence['generator'], 'portRange' | 'timeWaitToTarget'>>;
  connectLatencyMs?: RunEvidence['connectLatencyMs'];
  series?: RunEvidence['series'];
  /** Epoch ms (the workers' clocks): converted to ms after the start here. */
  order?: { lastOpenAt?: number; firstEarlyCloseAt?: number };
  floodgate?: boolean;
}

/**
 * Share of the generator's CPU that sampling may use: every read of the port's socket states
 * (the forced ones and the pre-flight's included), the accept-queue reads and the server's /proc
 * files. Reads are paced against it (SamplePacer), so it holds by construction once the forced
 * reads fit. A full read of 20,000 loopback sockets costs ~60 ms here; one without ESTABLISHED
 * ~15 ms, most of it the `ss` process itself.
 */
const SAMPLE_SHARE = 0.02;

/**
 * Records the OS side of a run the way `floodgate doctor --run` needs it: counters, socket states
 * toward the target and the listener before, at their peak during (call `sample()` often, e.g.
 * every 500 ms: it reads the states only when the CPU budget allows, see SamplePacer;
 * `sample(true)` at moments that matter, such as when every attempt has settled), and after; the
 * server's fds when its pid is known. A load generator calls start(), sample()…, then
 * `await finish(outcome)` and stores the result as `evidence`. State reads are asynchronous (a
 * helper process answers them): one at a time, a forced one after the read under way. Call
 * finish() after releasing the run's sockets: a process that used up its fds cannot read /proc
 * any more.
 */
export class EvidenceRecorder {
  private readonly pacer = new SamplePacer(SAMPLE_SHARE);
  private readonly states: PortStatesReader;
  private reading?: Promise<void>;
  private forced = false;
  /** A forced read (the peak's) has been made since start. */
  private peakRead = false;
  private finishing = false;
  /** The last read could leave ESTABLISHED out (sock_diag). */
  private lightCapable = false;
  private via?: 'sock_diag' | 'proc';
  private samples = 0;
  private establishedSamples = 0;
  /** When each state read ended (performance.now()), for the interval the run actually got. */
  private readonly readAt: number[] = [];
  private listenerTables: Array<'tcp' | 'tcp6'> = [];
  private before: KernelCounters = {};
  private statesBefore?: Record<string, number>;
  private readonly peak: Record<string, number> = {};
  private listener?: { backlog: number };
  private maxAcceptQueue = 0;
  private serverPeakFds = 0;
  private settings: RunEvidence['settings'];
  private startedAt = new Date();
  private t0 = 0;
  private serverFdLimit?: number;
  private serverFdsAtStart?: number;
  private serverExitedAtMs?: number;
  private lastCpu?: { t: number; cpu: ProcessCpu };
  private readonly cpu: NonNullable<NonNullable<RunEvidence['server']>['cpu']> = [];

  constructor(private readonly target: RecorderTarget) {
    this.states = target.states ?? new PortStatesReader(target.port, isIP(target.host) ? target.host : undefined);
  }

  /**
   * `statesBefore`: a read of the port's states just made (the pre-flight's), to spare another:
   * it is the run's first sample. Without it, start() reads them (asynchronously).
   */
  start(statesBefore?: { counts: PortStateCount; cpuMs: number; established?: boolean; via?: 'sock_diag' | 'proc' }): void {
    this.startedAt = new Date();
    this.t0 = performance.now();
    const c0 = cpuMsNow();
    this.before = readKernelCounters();
    if (this.target.local) {
      // the backlog from the read just made when it has it (sock_diag), else from `ss -ltn`
      const backlog = statesBefore?.counts.listenBacklog ?? readListeners()?.find((x) => x.port === this.target.port)?.backlog;
      if (backlog !== undefined) this.listener = { backlog };
      this.listenerTables = listenerFamilies(this.target.port);
    }
    this.settings = readRunSettings();
    const pid = this.target.serverPid;
    if (pid !== undefined) {
      // read while it lives: a server that dies mid-run has no /proc/<pid>/limits at the end
      this.serverFdLimit = readFdLimits(pid).hard;
      this.serverFdsAtStart = countOpenFds(pid);
    }
    this.pacer.addOverhead(cpuMsNow() - c0);
    if (statesBefore) {
      this.statesBefore = { ...statesBefore.counts.states };
      this.fold({ counts: statesBefore.counts, cpuMs: statesBefore.cpuMs, established: statesBefore.established ?? true, via: statesBefore.via ?? 'proc' });
      this.sample();
    } else {
      this.sample(true);
      this.peakRead = false; // that forced read was the "before", not the peak
    }
  }

  /**
   * The server's liveness and CPU, on every call (two small /proc reads): a vanished pid is direct
   * evidence, and CPU while nothing progresses tells a stalled event loop from an idle server.
   */
  private sampleServer(t: number): void {
    const pid = this.target.serverPid;
    if (pid === undefined || this.serverExitedAtMs !== undefined) return;
    const cpu = readProcessCpu(pid);
    const ms = t - this.t0;
    if (cpu === undefined || cpu.state === 'Z' || cpu.state === 'X') {
      this.serverExitedAtMs = Math.round(ms);
      return;
    }
    if (this.lastCpu && t - this.lastCpu.t >= 200) {
      const cores = (cpu.seconds - this.lastCpu.cpu.seconds) / ((t - this.lastCpu.t) / 1000);
      // bounded: an hours-long hold keeps the first 3,600 intervals
      if (this.cpu.length < 3600) this.cpu.push({ fromMs: Math.round(this.lastCpu.t - this.t0), toMs: Math.round(ms), cores: Math.round(cores * 100) / 100, state: cpu.state });
      this.lastCpu = { t, cpu };
    } else if (!this.lastCpu) this.lastCpu = { t, cpu };
  }

  /**
   * Samples now: the server's liveness and the listener's accept queue on every call (the queue
   * from the listening rows alone, which costs little whatever the number of connections); the
   * port's socket states when the pacer's budget allows, or, with `force`, as soon as the read
   * under way (if any) has ended, with ESTABLISHED.
   */
  sample(force = false): void {
    const c0 = cpuMsNow();
    const t = performance.now();
    this.sampleServer(t);
    if (this.listenerTables.length > 0) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, readListenQueue(this.target.port, this.listenerTables));
    this.pacer.addOverhead(cpuMsNow() - c0);
    if (this.finishing) return;
    if (force) this.forced = true;
    if (this.reading) return;
    const base = this.budgetBase(t);
    const kind = this.forced ? 'full' : this.pacer.next(base, this.lightCapable, this.reserve(base));
    if (kind !== undefined) this.startRead(kind);
  }

  /**
   * What the reads still to come whatever the budget says are expected to cost: until the peak's
   * read (every attempt settled, or the planned end) has been made, half the budget or twice a
   * full read so far, whichever is more; then the read in finish(), like the full reads so far.
   * The peak's read is the dearest of a run (~70 ms here at 10,000 connections, about 1.5 % of the
   * generator's CPU) and cannot be judged from the small reads before it; paced reads before it
   * would otherwise spend the budget it comes on top of.
   */
  private reserve(base: number): number {
    const full = this.pacer.expected('full');
    return this.peakRead ? full : Math.max(2 * full, (SAMPLE_SHARE * base) / 2);
  }

  /** The generator's CPU so far, ms; without it, the wall time since start (a share of one core). */
  private budgetBase(t: number): number {
    const gen = this.target.generatorCpuMs;
    return gen === undefined ? t - this.t0 : gen();
  }

  private startRead(kind: SampleKind): void {
    if (this.forced) this.peakRead = true;
    if (kind === 'full') this.forced = false;
    const c0 = cpuMsNow();
    // the server's fds with each read of the states: its peak comes with theirs
    if (this.target.serverPid !== undefined && this.serverExitedAtMs === undefined) this.serverPeakFds = Math.max(this.serverPeakFds, countOpenFds(this.target.serverPid) ?? 0);
    this.pacer.addOverhead(cpuMsNow() - c0);
    this.reading = this.states.read(kind === 'full').then(
      (r) => this.fold(r),
      () => undefined, // a read that failed leaves the peak as it was
    ).finally(() => {
      this.reading = undefined;
      if (this.forced && !this.finishing) this.startRead('full');
    });
  }

  /** One read's counts into the peak (and the before, for the first), its cost into the budget. */
  private fold(r: PortStatesRead): void {
    this.samples++;
    if (r.established) this.establishedSamples++;
    this.readAt.push(performance.now());
    this.statesBefore ??= { ...r.counts.states };
    for (const [k, v] of Object.entries(r.counts.states)) this.peak[k] = Math.max(this.peak[k] ?? 0, v);
    if (this.target.local) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, r.counts.listenRxQueue);
    this.pacer.record(r.established ? 'full' : 'light', r.cpuMs);
    this.lightCapable = r.via === 'sock_diag';
    this.via = r.via;
  }

  /** Mean and longest time between two state reads, ms (undefined with fewer than two). */
  private intervals(): { mean?: number; max?: number } {
    if (this.readAt.length < 2) return {};
    let max = 0;
    for (let i = 1; i < this.readAt.length; i++) max = Math.max(max, this.readAt[i] - this.readAt[i - 1]);
    const mean = (this.readAt[this.readAt.length - 1] - this.readAt[0]) / (this.readAt.length - 1);
    return { mean: Math.round(mean), max: Math.round(max) };
  }

  /** The last sample (with ESTABLISHED) and the "after", then the evidence; ends the state reader. */
  async finish(outcome: RunOutcome): Promise<RunEvidence> {
    this.finishing = true;
    while (this.reading) await this.reading;
    // one read of every socket serves as the last sample and as the "after" (the run's sockets are released by now)
    const c0 = cpuMsNow();
    this.sampleServer(performance.now());
    const after = readKernelCounters();
    if (this.target.serverPid !== undefined && this.serverExitedAtMs === undefined) this.serverPeakFds = Math.max(this.serverPeakFds, countOpenFds(this.target.serverPid) ?? 0);
    this.pacer.addOverhead(cpuMsNow() - c0);
    const last = await this.states.read(true);
    await this.states.close();
    this.fold(last);
    const statesAfter = last.counts.states;
    const gap = this.intervals();
    const pid = this.target.serverPid;
    return {
      target: { url: this.target.url, host: this.target.host, port: this.target.port, local: this.target.local },
      startedAt: this.startedAt.toISOString(),
      durationMs: performance.now() - this.t0,
      attempts: outcome.attempts,
      successes: outcome.successes,
      failures: outcome.failures,
      kernel: { before: this.before, after, delta: counterDelta(this.before, after), scope: inOwnNetns() ? 'netns' : 'host' },
      socketStates: {
        before: this.statesBefore ?? {},
        peak: { ...this.peak },
        after: statesAfter,
        samples: this.samples,
        establishedSamples: this.establishedSamples,
        meanIntervalMs: gap.mean,
        maxIntervalMs: gap.max,
        budgetShare: SAMPLE_SHARE,
        via: this.via,
        cpuMs: Math.round(this.pacer.spentMs * 10) / 10,
      },
      listener: this.listener ? { backlog: this.listener.backlog, somaxconn: readSomaxconn(), maxAcceptQueue: this.maxAcceptQueue } : undefined,
      generator: {
        portRange: this.settings?.ipLocalPortRange,
        timeWaitToTarget: statesAfter.TIME_WAIT ?? 0,
        ...outcome.generator,
      },
      server: pid === undefined ? undefined : {
        pid,
        fdLimit: this.serverFdLimit ?? readFdLimits(pid).hard,
        fdsAtStart: this.serverFdsAtStart,
        peakFds: this.serverPeakFds,
        fdsAtEnd: this.serverExitedAtMs === undefined ? countOpenFds(pid) : undefined,
        exitedAtMs: this.serverExitedAtMs,
        cpu: this.cpu,
      },
      connectLatencyMs: outcome.connectLatencyMs,
      settings: this.settings,
      series: outcome.series,
      order: outcome.order && {
        lastOpenMs: outcome.order.lastOpenAt === undefined ? undefined : Math.round(outcome.order.lastOpenAt - this.startedAt.getTime()),
        firstEarlyCloseMs: outcome.order.firstEarlyCloseAt === undefined ? undefined : Math.round(outcome.order.firstEarlyCloseAt - this.startedAt.getTime()),
      },
      floodgate: outcome.floodgate,
    };
  }
}

/** This process's CPU time so far, ms (user + system). */
function cpuMsNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
