import { readFileSync } from 'node:fs';
import { diagnoseRun, renderDiagnosis, type Diagnosis } from './diagnose-run.js';
import type { RunEvidence } from './run-evidence.js';

/**
 * `doctor --run` on a merged bench run (`bench merge`, with `parts`): each machine's own evidence
 * is diagnosed on its own, under its label. Kernel counters and socket states are per machine, and
 * the merged `evidence` only sums them, so diagnosing the sum could pair one machine's counters
 * with another machine's failures. Returns undefined for a single machine's result.
 */
export function diagnoseMergedRunFile(file: string): { machines: { label: string; diagnosis: Diagnosis }[] } | undefined {
  let parsed: { parts?: { label?: string; evidence?: RunEvidence }[] };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // readRunEvidence reports the unreadable file
  }
  const parts = parsed?.parts;
  if (!Array.isArray(parts) || parts.length === 0 || !parts.every((p) => p?.evidence && Array.isArray(p.evidence.failures))) return undefined;
  return { machines: parts.map((p, i) => ({ label: p.label ?? `machine ${i + 1}`, diagnosis: diagnoseRun(p.evidence!) })) };
}

export function renderMachinesDiagnosis(d: { machines: { label: string; diagnosis: Diagnosis }[] }): string {
  const failed = d.machines.reduce((s, m) => s + m.diagnosis.failed, 0);
  const attempts = d.machines.reduce((s, m) => s + m.diagnosis.attempts, 0);
  const head = `${failed.toLocaleString('en-US')} of ${attempts.toLocaleString('en-US')} handshakes failed across ${d.machines.length} machines (each diagnosed from its own counters).`;
  return [head, ...d.machines.map((m) => `\n== ${m.label} ==\n${renderDiagnosis(m.diagnosis)}`)].join('\n');
}
