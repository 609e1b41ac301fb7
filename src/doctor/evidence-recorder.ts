import { counterDelta, readKernelCounters, type KernelCounters } from '../system/kernel-counters.js';
import { readFdLimits, readSomaxconn } from '../system/limits.js';
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
    this.sample(true);
  }

  /** Samples now, or later when the last sample's cost says the budget is spent (`force` to sample anyway). */
  sample(force = false): void {
    const t = performance.now();
    if (!force && t < this.nextSampleAt) return;
    this.samples++;
    const now = readPortStates(this.target.port);
    for (const [k, v] of Object.entries(now.states)) this.peak[k] = Math.max(this.peak[k] ?? 0, v);
    if (this.target.local) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, now.listenRxQueue);
    if (this.target.serverPid !== undefined) this.serverPeakFds = Math.max(this.serverPeakFds, countOpenFds(this.target.serverPid) ?? 0);
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
      kernel: { before: this.before, after, delta: counterDelta(this.before, after) },
      socketStates: { before: this.statesBefore, peak: { ...this.peak }, after: statesAfter, samples: this.samples },
      listener: this.listener ? { backlog: this.listener.backlog, somaxconn: readSomaxconn(), maxAcceptQueue: this.maxAcceptQueue } : undefined,
      generator: {
        portRange: this.settings?.ipLocalPortRange,
        timeWaitToTarget: statesAfter.TIME_WAIT ?? 0,
        ...outcome.generator,
      },
      server: pid === undefined ? undefined : { pid, fdLimit: readFdLimits(pid).hard, peakFds: this.serverPeakFds, fdsAtEnd: countOpenFds(pid) },
      connectLatencyMs: outcome.connectLatencyMs,
      settings: this.settings,
    };
  }
}
