import { availableParallelism, loadavg } from 'node:os';
import type { FailureBucket } from '../doctor/run-evidence.js';
import type { LatencySummary, PaceSummary, SeriesPoint } from './types.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const secs = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/** A worker at or above this share of one core is the bottleneck, not the server. */
const CPU_BOUND = 0.9;

/** Overdue starts beyond 200 ms of the schedule (at least 10): less is timer and IPC noise. */
export function behindLimit(ratePerSecond: number): number {
  return Math.max(10, ratePerSecond * 0.2);
}

/** What held the generator back, from its own evidence: CPU of its busiest worker, its ports, its fds. */
export function generatorLimits(cpu: number, failureKinds: Iterable<string>): PaceSummary['limitedBy'] {
  const kinds = [...failureKinds];
  const out: PaceSummary['limitedBy'] = [];
  if (cpu >= CPU_BOUND) out.push('cpu');
  if (kinds.some((k) => /\.(EADDRNOTAVAIL|EADDRINUSE)$/.test(k))) out.push('ports');
  if (kinds.some((k) => /\.(EMFILE|ENFILE)$/.test(k))) out.push('fds');
  return out;
}

const WHY: Record<PaceSummary['limitedBy'][number], (cpu: number) => string> = {
  cpu: (cpu) => `a worker used ${Math.round(cpu * 100)}% of a core (add --workers, or a second machine)`,
  ports: () => 'ephemeral ports ran out (EADDRNOTAVAIL: --source-ips, or wait out TIME_WAIT)',
  fds: () => 'a worker hit its fd limit (EMFILE: --workers or ulimit -n)',
};

export function explainLimits(limits: PaceSummary['limitedBy'], cpu: number): string {
  if (limits.length === 0) {
    const load = loadavg()[0];
    const cores = availableParallelism();
    const busy = load >= cores ? `the machine is busy (load average ${load.toFixed(1)} on ${cores} cores)` : `load average ${load.toFixed(1)} on ${cores} cores`;
    return `no generator limit seen (busiest worker used ${Math.round(cpu * 100)}% of a core, no port or fd errors); ${busy}`;
  }
  return limits.map((l) => WHY[l](cpu)).join('; ');
}

/**
 * Judges, after a run with an arrival rate, whether the generator started connections on
 * schedule. Behind schedule, the latencies it measured are the generator's as much as the
 * server's, so the summary must say so and why.
 */
export function judgePace(series: readonly SeriesPoint[], maxRate: number, startLag: LatencySummary, failures: readonly FailureBucket[]): PaceSummary | undefined {
  if (maxRate <= 0) return undefined;
  let worst: SeriesPoint | undefined;
  let achieved = 0;
  let cpuPeak = 0;
  for (const p of series) {
    cpuPeak = Math.max(cpuPeak, p.cpu ?? 0);
    if ((p.planned ?? 0) > 0 || (p.behind ?? 0) > 0) achieved = Math.max(achieved, p.attempts);
    if ((p.behind ?? 0) > (worst?.behind ?? 0)) worst = p;
  }
  const maxBehind = worst?.behind ?? 0;
  const intervalMs = 1000 / maxRate;
  // a few due starts or a lag of a couple of intervals is scheduling noise; more is the generator falling behind
  const keptUp = maxBehind <= behindLimit(maxRate) && startLag.p50 <= Math.max(100, 2 * intervalMs);
  const limitedBy = keptUp ? [] : generatorLimits(cpuPeak, failures.map((f) => f.kind));
  const pace: PaceSummary = {
    requestedPerSecond: maxRate,
    achievedPerSecond: achieved,
    startLagP50Ms: startLag.p50,
    startLagP99Ms: startLag.p99,
    maxBehind,
    cpuPeak,
    keptUp,
    limitedBy,
  };
  if (!keptUp) {
    const at = worst ? `+${fmt(worst.attempts)}/s while ${fmt(worst.planned || maxRate)}/s was asked (at ${worst.t} s, ${fmt(maxBehind)} starts overdue)` : `the schedule slipped`;
    pace.note = `the generator could not keep the requested rate: ${at}, start lag p50 ${secs(startLag.p50)}; why: ${explainLimits(limitedBy, cpuPeak)}. Latencies include the generator's own delay.`;
  }
  return pace;
}
