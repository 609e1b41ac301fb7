import { benchExit, EXIT_RULE } from './exit-code.js';
import { behindLimit } from './pace.js';
import type { BenchResult, LatencySummary } from './types.js';
import { samplingNote } from './sampling-note.js';

// one formatter for every call: toLocaleString builds an ICU formatter each time, which showed in
// the generator's profile through the progress line it prints every second
const NUMBER = new Intl.NumberFormat('en-US');
const fmt = (n: number): string => NUMBER.format(n);
const lat = (name: string, l: LatencySummary, n = `n=${fmt(l.count)}`): string =>
  `  ${name.padEnd(14)} ${l.count === 0 ? '—' : `p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  max ${l.max} ms  (${n})`}`;

/** Printed under the latencies whenever the CO line or start lag is: the two terms users ask about. */
export const CO_NOTE = 'CO = coordinated-omission corrected: handshake time counted from each connection\'s planned start, what a client arriving on schedule would have waited.';
export const START_LAG_NOTE = 'start lag = how late the generator started a connection against its plan: its own delay, not the server\'s.';

/** The Retry-After values seen, unless the example already shows the only one (no 503 example twice). */
export function retryAfterNote(f: { example: string; retryAfter?: number[] }): string {
  if (!f.retryAfter?.length) return '';
  if (f.retryAfter.length === 1 && f.example.includes(`Retry-After: ${f.retryAfter[0]}`)) return '';
  return ` [Retry-After ${f.retryAfter.join(', ')}]`;
}

/** The text summary printed after a run (stdout without --json); ends with the diagnosis. */
export function renderSummary(r: BenchResult): string {
  const t = r.totals;
  const out: string[] = [];
  out.push(`floodgate bench ${r.target.url}: ${fmt(t.attempts)} attempts in ${(r.durationMs / 1000).toFixed(1)} s, ${r.plan.inProcess ? 'in one process' : `${r.plan.workers} worker process(es)`}${r.plan.sourceIps.length ? `, ${r.plan.sourceIps.length} source IPs` : ''}`);
  for (const w of r.plan.warnings) out.push(`  warning: ${w}`);
  if (r.segment) out.push(`  segment ${r.segment.index}/${r.segment.count} on ${r.machine?.label ?? 'this machine'}: ${fmt(r.plan.connections)} of the scenario's ${fmt(r.segment.scenario[r.segment.scenario.length - 1].connections)} connections`);
  if (r.clock?.source === 'redis' && r.clock.skewMs !== undefined) out.push(`  started at ${r.clock.startAt} after a Redis barrier (run ${r.clock.runId}); clock skew vs Redis ${r.clock.skewMs} ms, round trip ${r.clock.rttMs} ms`);
  if (r.parts) {
    out.push(`Machines (${r.parts.length}, merged):`);
    const skews = r.parts.map((p) => p.clock?.skewMs).filter((x): x is number => x !== undefined);
    if (skews.length > 0) {
      const lo = Math.min(...skews);
      const hi = Math.max(...skews);
      out.push(`  clocks vs Redis: ${lo} … ${hi} ms (machines apart by up to ${Math.round((hi - lo) * 1000) / 1000} ms; each start corrected by its own skew)`);
    }
    for (const p of r.parts) out.push(`  ${machineLine(p)}`);
  }
  out.push(`  held to the end ${fmt(t.successes)} of ${fmt(t.attempts)} attempted (success rate ${(t.successRate * 100).toFixed(2)}%), opened ${fmt(t.opened)}, peak open ${fmt(t.peakOpen)}, failures ${fmt(t.failures)}`);
  if (t.messagesSent + t.messagesReceived > 0) out.push(`  messages sent ${fmt(t.messagesSent)}, received ${fmt(t.messagesReceived)}`);
  out.push('Latency:');
  out.push(lat('connect', r.latencyMs.connect));
  out.push(lat('handshake', r.latencyMs.handshake));
  const co = r.stages.some((s) => s.rate !== undefined);
  if (co) {
    // the correction adds modelled samples: n stays the connections measured, the extra is said apart
    const measured = r.latencyMs.handshake.count;
    const modelled = Math.max(0, r.correctedHandshakeMs.count - measured);
    out.push(lat('handshake (CO)', r.correctedHandshakeMs, `n=${fmt(measured)}${modelled > 0 ? `; the correction adds ${fmt(modelled)} modelled samples` : ''}`));
  }
  if (r.latencyMs.firstMessage.count > 0) out.push(lat('first message', r.latencyMs.firstMessage));
  if (r.latencyMs.message.count > 0) out.push(lat('message', r.latencyMs.message));
  out.push(lat('start lag', r.latencyMs.startLag));
  if (co) out.push(`  ${CO_NOTE}`);
  out.push(`  ${START_LAG_NOTE}`);
  if (r.pace) {
    out.push(r.pace.keptUp
      ? `Generator pace: kept the requested ${fmt(r.pace.requestedPerSecond)}/s (start lag p50 ${r.pace.startLagP50Ms} ms, worker CPU peak ${Math.round(r.pace.cpuPeak * 100)}%)`
      : `Generator pace: ${r.pace.note}`);
  }
  if (r.failures.length > 0) {
    out.push('Failures (phase.detail, side, count, example):');
    for (const f of r.failures) {
      out.push(`  ${f.kind.padEnd(28)} ${f.side.padEnd(9)} ${fmt(f.count).padStart(8)}  ${f.example}${retryAfterNote(f)}`);
    }
  }
  const e = r.evidence;
  const interesting = Object.entries(e.kernel.delta).filter(([k]) => /ListenOverflows|ListenDrops|ReqQFull|Syncookies|TimeWaitOverflow|AbortOnMemory|EstabResets|AttemptFails|Softnet\.Dropped/.test(k));
  if (interesting.length > 0) {
    const whose = e.kernel.scope === 'netns'
      ? 'this network namespace only'
      : 'host-wide: every process on this machine adds to them; for this run\'s own, run in a network namespace (ip netns exec)';
    // the CPUs' input queues are the host's whatever the namespace: say so where the rest are the namespace's
    const label = (k: string): string => (k.startsWith('Softnet.') && e.kernel.scope === 'netns' ? `${k} (host-wide)` : k);
    out.push(`Kernel (delta, ${whose}): ${interesting.map(([k, v]) => `${label(k)} ${fmt(v)}`).join(', ')}`);
  }
  out.push(`Sockets toward :${e.target.port}: peak ${Object.entries(e.socketStates.peak).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'none'}; TIME_WAIT at end ${fmt(e.generator.timeWaitToTarget ?? 0)}`);
  const sampled = samplingNote(e.socketStates);
  if (sampled) out.push(`  (${sampled})`);
  const server = e.server === undefined
    ? ''
    : e.server.exitedAtMs !== undefined
      ? `; server pid ${e.server.pid} exited at t=${(e.server.exitedAtMs / 1000).toFixed(1)} s (peak ${fmt(e.server.peakFds ?? 0)} fds before, limit ${e.server.fdLimit ?? 'unknown'})`
      : `; server pid ${e.server.pid}: peak ${fmt(e.server.peakFds ?? 0)} fds (limit ${e.server.fdLimit ?? 'unknown'})`;
  out.push(`Generator: peak ${fmt(e.generator.peakFdsPerProcess ?? 0)} fds in one process (limit ${e.generator.fdLimitPerProcess === undefined ? 'unknown' : fmt(e.generator.fdLimitPerProcess)})${server}`);
  if (r.thresholds.length > 0) {
    out.push('Thresholds:');
    for (const th of r.thresholds) out.push(`  ${th.ok ? 'ok    ' : 'BROKEN'} ${th.expression} (actual ${th.actual})`);
  }
  if (r.diagnosis) {
    out.push(`Diagnosis: ${r.diagnosis.headline}`);
    for (const c of r.diagnosis.causes) out.push(`  • [${c.side}] ${c.verdict}${c.fix ? `\n    Fix: ${c.fix}` : ''}`);
    for (const n of r.diagnosis.notes ?? []) out.push(`  Note: ${n}`);
  }
  const exit = r.exit ?? benchExit(r);
  out.push(`Exit code ${exit.code}: ${exit.reason} (rule: ${EXIT_RULE}).`);
  return out.join('\n');
}

/** One machine of a merged run: its share, outcome, clock and what its own diagnosis says. */
export function machineLine(p: NonNullable<BenchResult['parts']>[number]): string {
  const seg = p.segment ? ` ${p.segment.index}/${p.segment.count}` : '';
  const skew = p.clock?.skewMs !== undefined ? `, skew ${p.clock.skewMs} ms` : '';
  const off = p.offsetS !== 0 ? `, series offset ${p.offsetS} s` : '';
  const top = p.failures.slice(0, 3).map((f) => `${f.kind} ${fmt(f.count)}`).join(', ');
  return `${p.label}${seg}: ${fmt(p.totals.successes)}/${fmt(p.totals.attempts)} held${top ? ` (${top})` : ''}${skew}${off} — ${p.diagnosis?.headline ?? ''}`;
}

/** What `tick` carries (run.ts): this second's point plus running totals and the plan. */
export interface ProgressTick {
  t: number;
  open: number;
  attempts: number;
  successes: number;
  failures: number;
  total: { attempts: number; successes: number; failures: number };
  target: number;
  /** Seconds the run is planned to last; null = until stopped. */
  plannedSeconds?: number | null;
  /** Starts the plan wanted by now, and the highest arrival rate it asks (0 = burst). */
  plannedTotal?: number;
  requestedRate?: number;
  planned?: number;
  behind?: number;
  lagMeanMs?: number;
  cpu?: number;
  failureTotals?: Record<string, number>;
}

const secs = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/**
 * One progress line (stderr): time, open connections, starts per second against the plan, held
 * against attempted and failures by kind, kept apart: mid-ramp, a "success rate" would count
 * connections not yet tried as failed. `width` cuts the line for a terminal (\r redraws one row).
 */
export function renderProgress(p: ProgressTick, width = Infinity): string {
  const total = p.plannedSeconds === undefined ? '' : p.plannedSeconds === null ? ' / until stopped'
    : p.t > p.plannedSeconds + 0.5 ? `, planned ${p.plannedSeconds.toFixed(0)} s: waiting for answers` : ` / ${p.plannedSeconds.toFixed(0)} s`;
  const parts = [`[${p.t.toFixed(1)} s${total}] open ${fmt(p.open)} of ${fmt(p.target)}`];
  const asked = p.requestedRate && p.requestedRate > 0 && (p.planned ?? 0) > 0 ? ` (plan ${fmt(p.planned!)}/s)` : '';
  parts.push(`+${fmt(p.attempts)}/s${asked}`);
  // attempts still waiting for an answer are neither held nor failed yet
  const pending = Math.max(0, p.total.attempts - p.total.successes - p.total.failures);
  parts.push(`held ${fmt(p.total.successes)} of ${fmt(p.total.attempts)} attempted${pending > 0 ? `, ${fmt(pending)} waiting` : ''}`);
  const kinds = Object.entries(p.failureTotals ?? {}).sort((a, b) => b[1] - a[1]);
  if (p.total.failures === 0) parts.push('no failures');
  else parts.push(`failures ${fmt(p.total.failures)}${kinds.length ? `: ${kinds.slice(0, 3).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}${kinds.length > 3 ? ', …' : ''}` : ''}`);
  const behind = p.behind ?? 0;
  if (p.requestedRate && behind > behindLimit(p.requestedRate)) {
    const cpu = p.cpu !== undefined && p.cpu >= 0.9 ? `: worker CPU ${Math.round(p.cpu * 100)}%` : '';
    const ports = kinds.some(([k]) => /EADDRNOTAVAIL|EADDRINUSE/.test(k)) ? ': out of ports' : '';
    parts.push(`GENERATOR BEHIND ${fmt(behind)} starts, lag ${secs(p.lagMeanMs ?? 0)}${cpu}${ports}`);
  }
  const line = parts.join(' · ');
  return line.length > width ? `${line.slice(0, Math.max(10, width - 1))}…` : line;
}

/** The line shown while connections are torn down (a clean close of thousands takes a moment). */
export function renderClosing(c: { open: number; t: number }): string {
  if (c.open === 0) return `[${c.t.toFixed(1)} s] ending: no connection open, collecting the results …`;
  return `[${c.t.toFixed(1)} s] closing ${fmt(c.open)} connection${c.open === 1 ? '' : 's'} …`;
}
