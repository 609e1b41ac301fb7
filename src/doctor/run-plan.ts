import { DEFAULT_MEMORY_OVERHEAD, MEASURED_BYTES_PER_CONNECTION } from '../config/server-settings.js';
import { readFdLimits } from '../system/limits.js';
import { planCapacity, type Plan, type PlanInputs } from './capacity-plan.js';
import { formatBytes } from './format.js';
import { intFlag, numberFlag, ratioFlag, sizeFlag } from './parse-input.js';
import { renderPlan, renderPlanDemand } from './render-plan.js';

export type PlanOptions = Record<string, string | boolean | undefined>;

export interface PlanOutput {
  /** One plan per memory size, with the bytes per connection given (or the measured default). */
  plans: Plan[];
  /** The same inputs with Floodgate's measured bytes per connection, when another figure was given. */
  floodgate?: Plan[];
  output: string;
}

export function runPlan(opts: PlanOptions): PlanOutput {
  const memories = String(opts.memory ?? '512MB').split(',').map((m) => sizeFlag('--memory', m.trim(), 1));
  const given = opts.bytesPerConnection === undefined ? undefined : sizeFlag('--bytes-per-connection', opts.bytesPerConnection, 1);
  const fdLimit = opts.fdLimit === undefined ? readFdLimits().hard : intFlag('--fd-limit', opts.fdLimit, 1, 1 << 30);
  const base: Omit<PlanInputs, 'memoryPerInstance' | 'bytesPerConnection'> = {
    users: intFlag('--users', opts.users, 0, 1e12),
    activeRatio: ratioFlag('--active', opts.active ?? '5%'),
    peakFactor: numberFlag('--peak-factor', opts.peakFactor ?? 1, 1, 1000),
    headroom: ratioFlag('--headroom', opts.headroom ?? '0%', 100),
    overhead: opts.overhead === undefined ? DEFAULT_MEMORY_OVERHEAD : sizeFlag('--overhead', opts.overhead),
    fdLimit,
    reservedFds: intFlag('--reserved-fds', opts.reservedFds ?? 64, 0, 100_000),
  };
  const make = (bpc: number): Plan[] => memories.map((m) => planCapacity({ ...base, memoryPerInstance: m, bytesPerConnection: bpc }));
  const plans = make(given ?? MEASURED_BYTES_PER_CONNECTION);
  const floodgate = given !== undefined && given !== MEASURED_BYTES_PER_CONNECTION ? make(MEASURED_BYTES_PER_CONNECTION) : undefined;
  if (opts.json) return { plans, floodgate, output: JSON.stringify({ plans, floodgate }, null, 2) };
  const out = [renderPlanDemand(plans[0]), ''];
  plans.forEach((p) => out.push(renderPlan(p), ''));
  if (given === undefined) {
    out.push(`(${formatBytes(MEASURED_BYTES_PER_CONNECTION)} per connection is Floodgate's measured figure; pass --bytes-per-connection to plan for another server.)`);
  } else if (floodgate) {
    out.push(`With Floodgate's measured ${formatBytes(MEASURED_BYTES_PER_CONNECTION)} per connection, the same inputs give:`, '');
    floodgate.forEach((p) => out.push(renderPlan(p), ''));
  }
  return { plans, floodgate, output: out.join('\n').trimEnd() };
}
