import { readFileSync } from 'node:fs';
import { FloodgateError } from '../errors.js';
import { DEFAULT_MEMORY_OVERHEAD, MEASURED_BYTES_PER_CONNECTION } from '../config/server-settings.js';
import { checkLimits, type Targets } from './check-limits.js';
import { checkListener, type ListenerReport } from './check-listener.js';
import { diagnoseRun, renderDiagnosis } from './diagnose-run.js';
import { diagnoseMergedRunFile, renderMachinesDiagnosis } from './diagnose-machines.js';
import { readOsSnapshot } from './os-snapshot.js';
import { renderLimitsReport } from './render-limits.js';
import { intFlag, rateFlag, ratioFlag, sizeFlag } from './parse-input.js';
import type { RunEvidence } from './run-evidence.js';

export type DoctorOptions = Record<string, string | boolean | undefined>;

/** Reads a bench result (or a bare RunEvidence) and checks the fields the diagnosis needs. */
export function readRunEvidence(file: string): RunEvidence {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FloodgateError('FG_ERR_RUN_FILE', `\`--run\` ${file} could not be read as JSON: ${(err as Error).message}`, { file });
  }
  const obj = parsed as { evidence?: unknown };
  const ev = (obj && typeof obj === 'object' && 'evidence' in obj ? obj.evidence : parsed) as Partial<RunEvidence> | undefined;
  const ok = ev && typeof ev === 'object' && typeof ev.attempts === 'number' && Array.isArray(ev.failures) &&
    ev.kernel && typeof ev.kernel === 'object' && ev.target && typeof ev.target === 'object' && ev.generator;
  if (!ok) {
    throw new FloodgateError('FG_ERR_RUN_FILE', `\`--run\` ${file} has no run evidence: expected a bench result with an \`evidence\` object holding attempts, failures, kernel, target and generator.`, { file });
  }
  return ev as RunEvidence;
}

/** The whole `floodgate doctor` command minus argv parsing: returns what to print and the exit code. */
export function runDoctor(opts: DoctorOptions): { output: string; exitCode: number; report: unknown } {
  if (typeof opts.run === 'string') {
    const merged = diagnoseMergedRunFile(opts.run);
    if (merged) {
      // as for one machine: 1 when any machine's diagnosis names a cause
      const exitCode = merged.machines.some((m) => m.diagnosis.causes.length > 0) ? 1 : 0;
      return { output: opts.json ? JSON.stringify(merged, null, 2) : renderMachinesDiagnosis(merged), exitCode, report: merged };
    }
    const d = diagnoseRun(readRunEvidence(opts.run));
    // 1 when the diagnosis names a cause (the run was not clean), 0 for a clean run
    return { output: opts.json ? JSON.stringify(d, null, 2) : renderDiagnosis(d), exitCode: d.causes.length > 0 ? 1 : 0, report: d };
  }
  const targets: Targets = {
    connections: opts.targetConnections === undefined ? undefined : intFlag('--target-connections', opts.targetConnections, 1, 100_000_000),
    ratePerSecond: opts.targetRate === undefined ? undefined : rateFlag('--target-rate', opts.targetRate),
    backlog: opts.backlog === undefined || opts.backlog === 'max' ? undefined : intFlag('--backlog', opts.backlog, 1, 2_147_483_647),
  };
  const pid = opts.pid === undefined ? undefined : intFlag('--pid', opts.pid, 1, 4_194_304);
  const port = opts.port === undefined ? undefined : intFlag('--port', opts.port, 1, 65535);
  const report = checkLimits(readOsSnapshot(pid ?? 'self'), targets, {
    bytesPerConnection: opts.bytesPerConnection === undefined ? MEASURED_BYTES_PER_CONNECTION : sizeFlag('--bytes-per-connection', opts.bytesPerConnection, 1),
    memoryOverhead: opts.memoryOverhead === undefined ? DEFAULT_MEMORY_OVERHEAD : sizeFlag('--memory-overhead', opts.memoryOverhead),
    reservedFds: intFlag('--reserved-fds', opts.reservedFds ?? 64, 0, 100_000),
    sourceIps: intFlag('--source-ips', opts.sourceIps ?? 1, 1, 65_536),
  });
  let listener: ListenerReport | undefined;
  if (pid !== undefined || port !== undefined) {
    listener = checkListener({
      pid, port,
      warnAt: ratioFlag('--warn-at', opts.warnAt ?? '70%'),
      alarmAt: ratioFlag('--alarm-at', opts.alarmAt ?? '90%'),
    });
  }
  const listenerBad = listener?.findings.some((f) => f.severity === 'error') ?? false;
  const exitCode = !report.targetsMet || listenerBad ? 1 : 0;
  const json = { ...report, listener };
  if (opts.json) return { output: JSON.stringify(json, null, 2), exitCode, report: json };
  return { output: renderLimitsReport(report, listener), exitCode, report: json };
}
