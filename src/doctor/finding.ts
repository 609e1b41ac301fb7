/** One conclusion of the doctor: what it saw, why it matters, what to do. */
export type Severity = 'ok' | 'info' | 'warn' | 'error';

export interface Finding {
  /** Stable identifier, e.g. `ports.rate`, `backlog.effective`, `fds.per-process`. */
  id: string;
  severity: Severity;
  /** One sentence: the conclusion. */
  title: string;
  /** The numbers it rests on, as read from the system. */
  evidence: string[];
  /** What to change; absent when nothing needs to. */
  fix?: string;
}

export const SEVERITY_ORDER: Record<Severity, number> = { ok: 0, info: 1, warn: 2, error: 3 };

export function worstSeverity(findings: readonly Finding[]): Severity {
  let worst: Severity = 'ok';
  for (const f of findings) if (SEVERITY_ORDER[f.severity] > SEVERITY_ORDER[worst]) worst = f.severity;
  return worst;
}

const MARK: Record<Severity, string> = { ok: 'ok   ', info: 'info ', warn: 'WARN ', error: 'ERROR' };

export function renderFindings(findings: readonly Finding[]): string {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${MARK[f.severity]} ${f.title}`);
    for (const e of f.evidence) lines.push(`        ${e}`);
    if (f.fix) lines.push(`        fix: ${f.fix}`);
  }
  return lines.join('\n');
}
