import { diagnoseRun } from '../doctor/diagnose-run.js';
import type { RunEvidence } from '../doctor/run-evidence.js';
import type { BenchDiagnosis } from './types.js';

const fmt = (n: number): string => n.toLocaleString('en-US');

export interface DiagnosedPart {
  label: string;
  evidence: RunEvidence;
}

type MergedCause = BenchDiagnosis['causes'][number];

/**
 * The diagnosis of a run spread over several machines. Kernel counters and socket states are
 * per machine (per network namespace), and the rules pair a counter with failures of the matching
 * kind, so they run on each machine's own evidence: adding one machine's EADDRNOTAVAIL to
 * another's port range, or one host's ListenOverflows to another's timeouts, would invent causes.
 * Causes with the same id are then gathered into one, naming every machine that showed it with
 * its count, and the verdict of the machine with the most failures as the example.
 */
export function diagnoseParts(parts: DiagnosedPart[], attempts: number, failed: number): { diagnosis: BenchDiagnosis; perPart: BenchDiagnosis[] } {
  const perPart: BenchDiagnosis[] = [];
  const notes: string[] = [];
  const byId = new Map<string, { side: string; fix?: string; entries: { label: string; failures: number; verdict: string; evidence: string[] }[] }>();
  for (const p of parts) {
    try {
      const d = diagnoseRun(p.evidence);
      perPart.push({
        headline: d.headline,
        causes: d.causes.map((c) => ({ id: c.id, side: c.side, failures: c.failures, verdict: c.verdict, evidence: c.evidence, fix: c.fix })),
        notes: d.notes,
      });
      for (const n of d.notes) notes.push(`${p.label}: ${n}`);
      for (const c of d.causes) {
        const key = `${c.id}|${c.side}`;
        let g = byId.get(key);
        if (!g) byId.set(key, (g = { side: c.side, fix: c.fix, entries: [] }));
        g.entries.push({ label: p.label, failures: c.failures, verdict: c.verdict, evidence: c.evidence });
      }
    } catch (err) {
      perPart.push({ headline: `diagnosis unavailable: ${(err as Error).message}`, causes: [], notes: [] });
    }
  }
  const causes: MergedCause[] = [];
  for (const [key, g] of byId) {
    const id = key.slice(0, key.indexOf('|'));
    const entries = [...g.entries].sort((a, b) => b.failures - a.failures);
    const machines = entries.map((e) => e.label);
    const verdict = entries.length === 1
      ? `${entries[0].label}: ${entries[0].verdict}`
      : `On ${entries.length} machines (${entries.map((e) => `${e.label} ${fmt(e.failures)}`).join(', ')} failures): ${id}. ${entries[0].label}: ${entries[0].verdict}`;
    // each machine's evidence lines, labelled: the counters they quote are that machine's
    const evidence = entries.flatMap((e) => e.evidence.map((line) => `${e.label}: ${line}`));
    causes.push({ id, side: g.side, failures: entries.reduce((s, e) => s + e.failures, 0), verdict, evidence, fix: g.fix, machines });
  }
  causes.sort((a, b) => b.failures - a.failures);
  const failedOn = parts.map((p, i) => ({ label: p.label, failed: p.evidence.failures.reduce((s, b) => s + b.count, 0), i })).filter((x) => x.failed > 0);
  const m = parts.length;
  const headline = failed === 0
    ? causes.length === 0
      ? `All ${fmt(attempts)} handshakes succeeded on ${m} machine${m === 1 ? '' : 's'}.`
      : `All ${fmt(attempts)} handshakes succeeded on ${m} machine${m === 1 ? '' : 's'}, but not cleanly: ${causes.map((c) => `${c.id} (${c.machines!.join(', ')})`).join(', ')}.`
    : `${fmt(failed)} of ${fmt(attempts)} handshakes failed on ${failedOn.length} of ${m} machines (${failedOn.map((x) => `${x.label} ${fmt(x.failed)}`).join(', ')}).`;
  return { diagnosis: { headline, causes, notes }, perPart };
}
