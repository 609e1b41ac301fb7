import { counterDelta, readKernelCounters, type KernelCounters } from '../system/kernel-counters.js';
import { readFdLimits, readSomaxconn } from '../system/limits.js';
import { inOwnNetns } from '../system/netns-counters.js';
import { readProcessCpu, type ProcessCpu } from '../system/process-usage.js';
import { readListeners } from '../system/listeners.js';
import { countOpenFds } from '../system/process-usage.js';
import { readPortStates } from '../system/socket-states.js';
import { readRunSettings } from '../system/sysctl-set.js';
import type { FailureBucket, RunEvidence } from './run-evidence.js';

export interface RecorderTarget {
  url: string;
  host: string;
  port: number;
  /** The target is on this machine (its listener and socket states are visible here). */
  local: boolean;
  serverPid?: number;
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
 * Share of one core the periodic samples may use. Reading every TCP socket costs in proportion to
 * their number (about 250 ms for 30,000 on loopback, where both ends count): at a fixed 250 ms
 * period that was a whole core taken from the server and the generator under test.
 */
const SAMPLE_BUDGET = 0.05;

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

  start(): void {
    this.startedAt = new Date();
    this.t0 = performance.now();
    this.before = readKernelCounters();
    this.statesBefore = readPortStates(this.target.port).states;
    if (this.target.local) {
      const l = readListeners()?.find((x) => x.port === this.target.port);
      if (l) this.listener = { backlog: l.backlog };
    }
    this.settings = readRunSettings();
    const pid = this.target.serverPid;
    if (pid !== undefined) {
      // read while it lives: a server that dies mid-run has no /proc/<pid>/limits at the end
      this.serverFdLimit = readFdLimits(pid).hard;
      this.serverFdsAtStart = countOpenFds(pid);
    }
    this.sample(true);
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

  /** Samples now, or later when the last sample's cost says the budget is spent (`force` to sample anyway). */
  sample(force = false): void {
    const t = performance.now();
    this.sampleServer(t);
    if (!force && t < this.nextSampleAt) return;
    this.samples++;
    const now = readPortStates(this.target.port);
    for (const [k, v] of Object.entries(now.states)) this.peak[k] = Math.max(this.peak[k] ?? 0, v);
    if (this.target.local) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, now.listenRxQueue);
    if (this.target.serverPid !== undefined && this.serverExitedAtMs === undefined) this.serverPeakFds = Math.max(this.serverPeakFds, countOpenFds(this.target.serverPid) ?? 0);
    const end = performance.now();
    this.nextSampleAt = end + (end - t) / SAMPLE_BUDGET;
  }

  finish(outcome: RunOutcome): RunEvidence {
    this.sample(true);
    const after = readKernelCounters();
    const statesAfter = readPortStates(this.target.port).states;
    const pid = this.target.serverPid;
    return {
      target: { url: this.target.url, host: this.target.host, port: this.target.port, local: this.target.local },
      startedAt: this.startedAt.toISOString(),
      durationMs: performance.now() - this.t0,
      attempts: outcome.attempts,
      successes: outcome.successes,
      failures: outcome.failures,
      kernel: { before: this.before, after, delta: counterDelta(this.before, after), scope: inOwnNetns() ? 'netns' : 'host' },
      socketStates: { before: this.statesBefore, peak: { ...this.peak }, after: statesAfter, samples: this.samples },
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
