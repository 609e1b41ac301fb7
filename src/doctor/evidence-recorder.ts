import { isIP } from 'node:net';
import { counterDelta, readKernelCounters, type KernelCounters } from '../system/kernel-counters.js';
import { readFdLimits, readSomaxconn } from '../system/limits.js';
import { inOwnNetns } from '../system/netns-counters.js';
import { readProcessCpu, type ProcessCpu } from '../system/process-usage.js';
import { readListeners } from '../system/listeners.js';
import { countOpenFds } from '../system/process-usage.js';
import { listenerFamilies, readListenQueue, readPortStatesCheapest, type PortStateCount } from '../system/socket-states.js';
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
   * CPU ms the load generator has used so far, all its processes: periodic samples then take at
   * most SAMPLE_SHARE of it. Without it, they take at most SAMPLE_SHARE of one core.
   */
  generatorCpuMs?: () => number;
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
 * Share of the generator's CPU the periodic samples may use. Reading every TCP socket costs in
 * proportion to their number (about 100 ms for 27,000 on loopback, where both ends count, and the
 * kernel formats every row): budgeted against wall time, those reads were a fifth of the
 * generator's CPU at 10,000 connections. The forced samples (start, every attempt settled, end)
 * come on top, so the periodic ones take less than the 5 % the whole may cost.
 */
const SAMPLE_SHARE = 0.02;

/**
 * Records the OS side of a run the way `floodgate doctor --run` needs it: counters, socket states
 * toward the target and the listener before, at their peak during (call `sample()` often, e.g.
 * every 250 ms: it reads only when SAMPLE_BUDGET allows; `sample(true)` at moments that matter,
 * such as when every attempt has settled), and after; the server's fds when its pid is known. A load generator calls
 * start(), sample()…, finish(outcome) and stores the result as `evidence`. Call finish() after
 * releasing the run's sockets: a process that used up its fds cannot read /proc any more.
 */
export class EvidenceRecorder {
  private nextSampleAt = 0;
  private samples = 0;
  /** CPU ms spent reading socket tables and the server's /proc files (all samples). */
  private cpuMs = 0;
  private listenerTables: Array<'tcp' | 'tcp6'> = [];
  private before: KernelCounters = {};
  private statesBefore: Record<string, number> = {};
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

  constructor(private readonly target: RecorderTarget) {}

  /** `statesBefore`: a read of the port's states just made (the pre-flight's) and its CPU cost, to spare another. */
  start(statesBefore?: { counts: PortStateCount; cpuMs: number }): void {
    this.startedAt = new Date();
    this.t0 = performance.now();
    const c0 = cpuMsNow();
    this.before = readKernelCounters();
    if (statesBefore) this.cpuMs += statesBefore.cpuMs; // read before start(), its own and its child's CPU
    this.statesBefore = { ...(statesBefore?.counts ?? this.readAll()).states };
    if (this.target.local) {
      const l = readListeners()?.find((x) => x.port === this.target.port);
      if (l) this.listener = { backlog: l.backlog };
      this.listenerTables = listenerFamilies(this.target.port);
    }
    this.cpuMs += cpuMsNow() - c0;
    this.settings = readRunSettings();
    const pid = this.target.serverPid;
    if (pid !== undefined) {
      // read while it lives: a server that dies mid-run has no /proc/<pid>/limits at the end
      this.serverFdLimit = readFdLimits(pid).hard;
      this.serverFdsAtStart = countOpenFds(pid);
    }
    if (statesBefore) {
      // the pre-flight's read is the run's first sample: a forced read right after it would only
      // repeat it, at the price of a full read (~0.1 s with 20,000 other sockets on the host)
      this.samples++;
      for (const [k, v] of Object.entries(statesBefore.counts.states)) this.peak[k] = Math.max(this.peak[k] ?? 0, v);
      if (this.target.local) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, statesBefore.counts.listenRxQueue);
      this.lastFullCostMs = statesBefore.cpuMs;
      this.nextSampleAt = performance.now() + statesBefore.cpuMs / SAMPLE_SHARE;
    }
    this.sample(statesBefore === undefined);
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
   * from the listening rows alone, which costs little whatever the number of connections), every
   * socket's state only when the budget allows or `force` says so.
   */
  sample(force = false): void {
    const c0 = cpuMsNow();
    const t = performance.now();
    this.sampleServer(t);
    if (this.listenerTables.length > 0) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, readListenQueue(this.target.port, this.listenerTables));
    if (force || this.allowed(t)) {
      this.samples++;
      const child0 = this.childCpuMs;
      const now = this.readAll();
      for (const [k, v] of Object.entries(now.states)) this.peak[k] = Math.max(this.peak[k] ?? 0, v);
      if (this.target.local) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, now.listenRxQueue);
      if (this.target.serverPid !== undefined && this.serverExitedAtMs === undefined) this.serverPeakFds = Math.max(this.serverPeakFds, countOpenFds(this.target.serverPid) ?? 0);
      const cost = cpuMsNow() - c0 + (this.childCpuMs - child0);
      const end = performance.now();
      // the wall-clock rule when the generator's CPU is not known
      this.nextSampleAt = end + Math.max(end - t, cost) / SAMPLE_SHARE;
      this.lastFullCostMs = cost;
    }
    this.cpuMs += cpuMsNow() - c0;
  }

  private lastFullCostMs = 0;

  /**
   * Every socket of the port, by state, by the cheaper read (sock_diag through `ss` when the
   * namespace holds many sockets, /proc/net/tcp otherwise). Its CPU, the `ss` child's included,
   * is added to the sampling cost (process.cpuUsage() alone would not see the child).
   */
  private readAll(): PortStateCount {
    const r = readPortStatesCheapest(this.target.port, isIP(this.target.host) ? this.target.host : undefined);
    this.childCpuMs += r.childCpuMs;
    return r.counts;
  }

  /** CPU ms of the `ss` children (this process's own sampling CPU is in cpuMs). */
  private childCpuMs = 0;

  /** A full read fits the budget: what sampling has cost, plus another like the last, within SAMPLE_SHARE. */
  private allowed(t: number): boolean {
    const gen = this.target.generatorCpuMs;
    if (gen === undefined) return t >= this.nextSampleAt;
    return this.cpuMs + this.childCpuMs + this.lastFullCostMs <= SAMPLE_SHARE * gen();
  }

  finish(outcome: RunOutcome): RunEvidence {
    // one read of every socket serves as the last sample and as the "after" (the run's sockets are released by now)
    const c0 = cpuMsNow();
    this.sampleServer(performance.now());
    const after = readKernelCounters();
    const last = this.readAll();
    this.samples++;
    for (const [k, v] of Object.entries(last.states)) this.peak[k] = Math.max(this.peak[k] ?? 0, v);
    if (this.target.local) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, last.listenRxQueue);
    if (this.target.serverPid !== undefined && this.serverExitedAtMs === undefined) this.serverPeakFds = Math.max(this.serverPeakFds, countOpenFds(this.target.serverPid) ?? 0);
    const statesAfter = last.states;
    this.cpuMs += cpuMsNow() - c0;
    const pid = this.target.serverPid;
    return {
      target: { url: this.target.url, host: this.target.host, port: this.target.port, local: this.target.local },
      startedAt: this.startedAt.toISOString(),
      durationMs: performance.now() - this.t0,
      attempts: outcome.attempts,
      successes: outcome.successes,
      failures: outcome.failures,
      kernel: { before: this.before, after, delta: counterDelta(this.before, after), scope: inOwnNetns() ? 'netns' : 'host' },
      socketStates: { before: this.statesBefore, peak: { ...this.peak }, after: statesAfter, samples: this.samples, cpuMs: Math.round((this.cpuMs + this.childCpuMs) * 10) / 10 },
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
