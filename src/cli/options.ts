import { Option, type Command } from 'commander';
import { describeAccepted, describeDefault, envName, flagName, type SettingSpec } from '../config/setting.js';

/** Adds one commander option per setting; values stay strings so the resolver validates them once. */
export function addSettingOptions(cmd: Command, specs: readonly SettingSpec[]): Command {
  for (const spec of specs) {
    const flag = spec.kind === 'boolean' ? `${flagName(spec.key)} [bool]` : `${flagName(spec.key)} <value>`;
    const def = describeDefault(spec).replace(/`/g, '');
    const opt = new Option(flag, `${spec.doc} Accepts ${describeAccepted(spec)}. Env ${envName(spec.key)}. Default ${def}.`);
    cmd.addOption(opt);
  }
  return cmd;
}

/** Pulls the setting values commander parsed (a bare boolean flag becomes true). */
export function pickSettingFlags(opts: Record<string, unknown>, specs: readonly SettingSpec[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of specs) if (opts[spec.key] !== undefined) out[spec.key] = opts[spec.key];
  return out;
}
