import { platform } from 'node:os';
import { execFileSync } from 'node:child_process';
import { FloodgateError } from '../errors.js';
import { readSysctl } from '../system/proc-files.js';
import type { Targets } from './check-limits.js';
import { intFlag, rateFlag } from './parse-input.js';
import { applyTune, DEFAULT_TUNE_PATHS, undoCommand, planLinuxTune, planMacTune, renderTuneScript, revertTune, type ReadSetting, type TunePaths } from './tune-script.js';

export type TuneOptions = Record<string, string | boolean | undefined>;

const readMac: ReadSetting = (name) => {
  try {
    return execFileSync('sysctl', ['-n', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return undefined;
  }
};

/** `floodgate tune`: returns what to print. Changes nothing unless --apply or --revert. */
export function runTune(opts: TuneOptions): string {
  const os = platform();
  if (os !== 'linux' && os !== 'darwin') {
    throw new FloodgateError('FG_ERR_UNSUPPORTED_PLATFORM', `floodgate tune knows Linux and macOS settings, not ${os}.`);
  }
  const paths: TunePaths = {
    conf: String(opts.sysctlConf ?? DEFAULT_TUNE_PATHS.conf),
    state: String(opts.stateFile ?? DEFAULT_TUNE_PATHS.state),
  };
  if (opts.apply && opts.revert) {
    throw new FloodgateError('FG_ERR_INVALID_CONFIG', '`--apply` and `--revert` cannot be used together.');
  }
  if (opts.revert) {
    const restored = revertTune(paths);
    return `Restored ${[...restored].map(([k, v]) => `${k} = ${v}`).join(', ') || 'nothing'}; removed ${os === 'linux' ? `${paths.conf} and ` : ''}${paths.state}.\nA restored backlog takes effect only when the server listens again.\n`;
  }
  const targets: Targets = {
    connections: opts.targetConnections === undefined ? undefined : intFlag('--target-connections', opts.targetConnections, 1, 100_000_000),
    ratePerSecond: opts.targetRate === undefined ? undefined : rateFlag('--target-rate', opts.targetRate),
    backlog: intFlag('--backlog', opts.backlog ?? 4096, 1, 2_147_483_647),
  };
  const changes = os === 'linux' ? planLinuxTune(readSysctl, targets) : planMacTune(readMac, targets);
  if (opts.apply) {
    applyTune(changes, os, paths);
    if (changes.length === 0) return 'Nothing to change: every setting already meets the target.\n';
    return `${changes.map((c) => `set ${c.name}: ${c.from} -> ${c.to}`).join('\n')}\nRecorded the previous values in ${paths.state}${os === 'linux' ? `; persisted in ${paths.conf}` : ''}.\nA new backlog takes effect only when the server listens again: restart it. Undo: ${undoCommand(paths)}\n`;
  }
  if (opts.json) return `${JSON.stringify({ platform: os, targets, changes, paths }, null, 2)}\n`;
  return renderTuneScript(changes, os, paths);
}
