import { counterDelta, readKernelCounters, type KernelCounters } from '../system/kernel-counters.js';
import { readFdLimits, readSomaxconn } from '../system/limits.js';
import { readListeners } from '../system/listeners.js';
import { countOpenFds } from '../system/process-usage.js';
import { countSocketStates, readTcpSockets } from '../system/socket-states.js';
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
 * Records the OS side of a run the way `floodgate doctor --run` needs it: counters, socket states
 * toward the target and the listener before, at their peak during (call `sample()` periodically,
 * e.g. every 100–250 ms), and after; the server's fds when its pid is known. A load generator calls
 * start(), sample()…, finish(outcome) and stores the result as `evidence`. Call finish() after
 * releasing the run's sockets: a process that used up its fds cannot read /proc any more.
 */
export class EvidenceRecorder {
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
    this.statesBefore = countSocketStates(readTcpSockets(), { port: this.target.port });
    if (this.target.local) {
      const l = readListeners()?.find((x) => x.port === this.target.port);
      if (l) this.listener = { backlog: l.backlog };
    }
    this.settings = readRunSettings();
    this.sample();
  }

  sample(): void {
    const sockets = readTcpSockets();
    for (const [k, v] of Object.entries(countSocketStates(sockets, { port: this.target.port }))) this.peak[k] = Math.max(this.peak[k] ?? 0, v);
    if (this.target.local) {
      for (const s of sockets) if (s.state === 'LISTEN' && s.localPort === this.target.port) this.maxAcceptQueue = Math.max(this.maxAcceptQueue, s.rxQueue);
    }
    if (this.target.serverPid !== undefined) this.serverPeakFds = Math.max(this.serverPeakFds, countOpenFds(this.target.serverPid) ?? 0);
  }

  finish(outcome: RunOutcome): RunEvidence {
    this.sample();
    const after = readKernelCounters();
    const statesAfter = countSocketStates(readTcpSockets(), { port: this.target.port });
    const pid = this.target.serverPid;
    return {
      target: { url: this.target.url, host: this.target.host, port: this.target.port, local: this.target.local },
      startedAt: this.startedAt.toISOString(),
      durationMs: performance.now() - this.t0,
      attempts: outcome.attempts,
      successes: outcome.successes,
      failures: outcome.failures,
      kernel: { before: this.before, after, delta: counterDelta(this.before, after) },
      socketStates: { before: this.statesBefore, peak: { ...this.peak }, after: statesAfter },
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
