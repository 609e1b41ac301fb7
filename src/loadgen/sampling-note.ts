import type { RunEvidence } from '../doctor/run-evidence.js';

/**
 * How the socket states were sampled, in words: how many reads the peak is over, how far apart
 * they came and what they cost. Sampling is paced by its CPU cost, so on a busy host the reads
 * come further apart; a reader of the peak needs to know that. Empty for results without samples.
 */
export function samplingNote(st: RunEvidence['socketStates'] | undefined): string {
  if (!st?.samples) return '';
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const parts = [`peak over ${st.samples.toLocaleString('en-US')} samples`];
  if (st.establishedSamples !== undefined && st.establishedSamples < st.samples) parts[0] += ` (${st.establishedSamples.toLocaleString('en-US')} of them with ESTABLISHED, among them before, after and once every attempt had settled)`;
  if (st.meanIntervalMs !== undefined) parts.push(`one every ${s(st.meanIntervalMs)} on average, ${s(st.maxIntervalMs ?? st.meanIntervalMs)} at most`);
  if (st.cpuMs !== undefined) parts.push(`sampling used ${Math.round(st.cpuMs).toLocaleString('en-US')} ms of CPU${st.budgetShare !== undefined ? ` (paced to ${Math.round(st.budgetShare * 1000) / 10} % of the generator's)` : ''}`);
  return parts.join('; ');
}
