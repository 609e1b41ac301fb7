import { diagnoseRun } from '../doctor/diagnose-run.js';
import type { RunEvidence } from '../doctor/run-evidence.js';
import type { BenchResult } from './types.js';

/** The single call site of the doctor's rules: a bench result ends with the same diagnosis `doctor --run` prints. */
export function diagnose(evidence: RunEvidence): BenchResult['diagnosis'] {
  try {
    const d = diagnoseRun(evidence);
    return {
      headline: d.headline,
      causes: d.causes.map((c) => ({ id: c.id, side: c.side, failures: c.failures, verdict: c.verdict, evidence: c.evidence, fix: c.fix })),
      notes: d.notes,
    };
  } catch (err) {
    return { headline: `diagnosis unavailable: ${(err as Error).message}`, causes: [], notes: [] };
  }
}
