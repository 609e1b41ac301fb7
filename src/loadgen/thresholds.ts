import { FloodgateError } from '../errors.js';
import type { BenchResult, ThresholdResult } from './types.js';

const LATENCIES = { connect: 'connect', handshake: 'handshake', first_message: 'firstMessage', message: 'message', start_lag: 'startLag' } as const;
const STATS = ['min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'] as const;

/** Metric names usable in thresholds: success_rate, attempts, successes, failures, peak_open, <stat>_<latency>_ms. */
export function metricValue(r: Pick<BenchResult, 'totals' | 'latencyMs'>, metric: string): number | undefined {
  switch (metric) {
    case 'success_rate': return r.totals.successRate;
    case 'attempts': return r.totals.attempts;
    case 'successes': return r.totals.successes;
    case 'failures': return r.totals.failures;
    case 'peak_open': return r.totals.peakOpen;
    case 'messages_received': return r.totals.messagesReceived;
    default: break;
  }
  const m = /^(min|mean|p50|p90|p99|p999|max)_(connect|handshake|first_message|message|start_lag)_ms$/.exec(metric);
  if (!m) return undefined;
  return r.latencyMs[LATENCIES[m[2] as keyof typeof LATENCIES]][m[1] as (typeof STATS)[number]];
}

export interface Threshold {
  expression: string;
  metric: string;
  op: string;
  value: number;
}

/** Parses `success_rate>=0.99` or `p99_handshake_ms<300` (k6 style). */
export function parseThreshold(expression: string): Threshold {
  const m = /^\s*([a-z0-9_]+)\s*(>=|<=|==|!=|>|<)\s*(-?[\d.]+(?:e-?\d+)?)\s*$/i.exec(expression);
  const probe = { totals: { successRate: 0, attempts: 0, successes: 0, failures: 0, peakOpen: 0, messagesReceived: 0 }, latencyMs: new Proxy({}, { get: () => ({ p50: 0, p90: 0, p99: 0, p999: 0, min: 0, max: 0, mean: 0 }) }) } as unknown as BenchResult;
  if (!m || !Number.isFinite(Number(m[3])) || metricValue(probe, m[1]) === undefined) {
    throw new FloodgateError('FG_ERR_THRESHOLD', `Expected \`threshold\` as <metric><op><number> with metric success_rate, attempts, successes, failures, peak_open, messages_received or <min|mean|p50|p90|p99|p999|max>_<connect|handshake|first_message|message|start_lag>_ms and op one of >= <= > < == !=, got \`${expression}\``);
  }
  return { expression: expression.trim(), metric: m[1], op: m[2], value: Number(m[3]) };
}

export function checkThresholds(r: Pick<BenchResult, 'totals' | 'latencyMs'>, exprs: string[]): ThresholdResult[] {
  return exprs.map((e) => {
    const t = parseThreshold(e);
    const actual = metricValue(r, t.metric) ?? NaN;
    const ok = t.op === '>=' ? actual >= t.value : t.op === '<=' ? actual <= t.value : t.op === '>' ? actual > t.value : t.op === '<' ? actual < t.value : t.op === '==' ? actual === t.value : actual !== t.value;
    return { expression: t.expression, metric: t.metric, actual, ok };
  });
}
