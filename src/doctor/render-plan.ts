import type { Plan } from './capacity-plan.js';
import { formatBytes, formatCount, formatPercent } from './format.js';

/** One plan as the lines `floodgate plan` prints, arithmetic shown so it can be checked by hand. */
export function renderPlan(p: Plan, label = ''): string {
  const i = p.inputs;
  const inst = p.instance;
  const lines = [
    `${label}${formatBytes(i.memoryPerInstance)} per instance, ${formatBytes(i.bytesPerConnection)} per connection`,
    `  per instance: (${formatBytes(i.memoryPerInstance)} − ${formatBytes(i.overhead)} overhead) / ${formatBytes(i.bytesPerConnection)} = ${formatCount(inst.memoryCap)} by memory` +
      (Number.isFinite(inst.fdCap) ? `; fds ${formatCount(i.fdLimit!)} − ${i.reservedFds} = ${formatCount(inst.fdCap)}` : '; no fd limit given') +
      ` → ${formatCount(inst.perInstance)} (${inst.limitedBy})`,
    `  instances: ${formatCount(p.instances)} × ${formatCount(inst.perInstance)} = ${formatCount(p.capacity)} capacity for ${formatCount(p.peakConcurrent)} at peak → headroom ${Number.isFinite(p.headroom) ? formatPercent(p.headroom) : '∞'}`,
  ];
  return lines.join('\n');
}

export function renderPlanDemand(p: Plan): string {
  const i = p.inputs;
  const head = `${formatCount(i.users)} users × ${formatPercent(i.activeRatio)} active = ${formatCount(p.concurrent)} concurrent`;
  const peak = i.peakFactor === 1 ? '' : `; × ${i.peakFactor} at peak = ${formatCount(p.peakConcurrent)}`;
  const room = i.headroom === 0 ? '' : `; + ${formatPercent(i.headroom)} headroom wanted = ${formatCount(p.required)} to hold`;
  return `${head}${peak}${room}`;
}
