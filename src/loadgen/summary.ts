import { benchExit, EXIT_RULE } from './exit-code.js';
import type { BenchResult, LatencySummary } from './types.js';

const fmt = (n: number): string => n.toLocaleString('en-US');
const lat = (name: string, l: LatencySummary): string =>
  `  ${name.padEnd(14)} ${l.count === 0 ? '—' : `p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  max ${l.max} ms  (n=${fmt(l.count)})`}`;

/** The text summary printed after a run (stdout without --json); ends with the diagnosis. */
export function renderSummary(r: BenchResult): string {
  const t = r.totals;
  const out: string[] = [];
  out.push(`floodgate bench ${r.target.url}: ${fmt(t.attempts)} attempts in ${(r.durationMs / 1000).toFixed(1)} s, ${r.plan.workers} worker process(es)${r.plan.sourceIps.length ? `, ${r.plan.sourceIps.length} source IPs` : ''}`);
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
  out.push(`  held to the end ${fmt(t.successes)} / ${fmt(t.attempts)} (success rate ${(t.successRate * 100).toFixed(2)}%), opened ${fmt(t.opened)}, peak open ${fmt(t.peakOpen)}`);
  if (t.messagesSent + t.messagesReceived > 0) out.push(`  messages sent ${fmt(t.messagesSent)}, received ${fmt(t.messagesReceived)}`);
  out.push('Latency:');
  out.push(lat('connect', r.latencyMs.connect));
  out.push(lat('handshake', r.latencyMs.handshake));
  if (r.stages.some((s) => s.rate !== undefined)) out.push(lat('handshake (CO)', r.correctedHandshakeMs));
  out.push(lat('first message', r.latencyMs.firstMessage));
  if (r.latencyMs.message.count > 0) out.push(lat('message', r.latencyMs.message));
  out.push(lat('start lag', r.latencyMs.startLag));
  if (r.failures.length > 0) {
    out.push('Failures (phase.detail, side, count, example):');
    for (const f of r.failures) {
      out.push(`  ${f.kind.padEnd(28)} ${f.side.padEnd(9)} ${fmt(f.count).padStart(8)}  ${f.example}${f.retryAfter ? ` [Retry-After ${f.retryAfter.join(', ')}]` : ''}`);
    }
  }
  const e = r.evidence;
  const interesting = Object.entries(e.kernel.delta).filter(([k]) => /ListenOverflows|ListenDrops|ReqQFull|Syncookies|TimeWaitOverflow|AbortOnMemory|EstabResets|AttemptFails/.test(k));
  if (interesting.length > 0) {
    const whose = e.kernel.scope === 'netns'
      ? 'this network namespace only'
      : 'host-wide: every process on this machine adds to them; for this run\'s own, run in a network namespace (ip netns exec)';
    out.push(`Kernel (delta, ${whose}): ${interesting.map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
  }
  out.push(`Sockets toward :${e.target.port}: peak ${Object.entries(e.socketStates.peak).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'none'}; TIME_WAIT at end ${fmt(e.generator.timeWaitToTarget ?? 0)}`);
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

/** One progress line for stderr on a TTY. */
export function renderProgress(p: { t: number; open: number; attempts: number; successes: number; failures: number; total: { attempts: number; successes: number; failures: number }; target: number }): string {
  const pct = p.total.attempts > 0 ? ((p.total.successes / p.total.attempts) * 100).toFixed(1) : '0.0';
  return `[${p.t.toFixed(1)}s] open ${fmt(p.open)}/${fmt(p.target)}  +${fmt(p.attempts)}/s  success ${pct}%  failures ${fmt(p.total.failures)}`;
}
