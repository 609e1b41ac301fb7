import { readFileSync } from 'node:fs';
import { parse as parseYaml, parseDocument } from 'yaml';
import { z } from 'zod';
import { FloodgateError } from '../errors.js';
import { envName, flagName, MAX_CONFIG_DEPTH, settingSchema, showValue, type SettingSpec } from './setting.js';
import { exceedsDepth } from '../protocol/depth.js';

/** `option` = passed to the API (createGateway options); `flag` = the command line. */
export type SettingSource = 'option' | 'flag' | 'env' | 'file' | 'default';

export interface ResolveInput {
  /** Values from the command line, keyed by setting key (camelCase). Undefined entries are ignored. */
  flags?: Record<string, unknown>;
  /** Usually process.env. */
  env?: NodeJS.ProcessEnv;
  /** Path of a config file (JSON, or YAML when it ends in .yaml/.yml), or its parsed content. */
  file?: string | Record<string, unknown>;
  /** Programmatic options (the API): they rank with flags. */
  options?: Record<string, unknown>;
}

export interface Resolved<T> {
  values: Readonly<T>;
  sources: Readonly<Record<keyof T, SettingSource>>;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FloodgateError('FG_ERR_CONFIG_FILE', `Cannot read config file ${path}: ${(err as Error).message}`);
  }
  const yaml = /\.ya?ml$/i.test(path);
  // the parsers (YAML's, the duplicate-key scan) and the error messages recurse: bound the depth first
  if (exceedsDepth(text, MAX_CONFIG_DEPTH)) {
    throw new FloodgateError('FG_ERR_CONFIG_FILE', `Config file ${path} nests deeper than ${MAX_CONFIG_DEPTH} levels of arrays/objects (no setting needs more than 5)`);
  }
  try {
    const parsed: unknown = yaml ? parseYaml(text) : JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('top level must be an object');
    // JSON.parse keeps the last of two equal keys without a word (YAML refuses them): a namespace
    // or setting written twice must not silently lose its first half
    if (!yaml) {
      const duplicate = parseDocument(text).errors.find((e) => e.code === 'DUPLICATE_KEY');
      if (duplicate) throw new Error(`a key appears twice in one object (${duplicate.message.split('\n')[0]})`);
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new FloodgateError('FG_ERR_CONFIG_FILE', `Config file ${path} is not a ${yaml ? 'YAML mapping' : 'JSON object'}: ${(err as Error).message}`);
  }
}

function show(v: unknown): string {
  return typeof v === 'string' ? `\`${showValue(v)}\`` : `\`${showValue(v)}\` (${typeof v})`;
}

/**
 * Merges flags > env > file > defaults for one component's settings, validates every value
 * once and freezes the result. A bad value throws FG_ERR_INVALID_CONFIG naming the setting,
 * where it came from, the value and the accepted range; all bad values are reported at once.
 */
export function resolveSettings<T>(specs: readonly SettingSpec[], input: ResolveInput): Resolved<T> {
  const fileValues = typeof input.file === 'string' ? readConfigFile(input.file) : (input.file ?? {});
  const known = new Set(specs.map((s) => s.key));
  const problems: string[] = [];
  for (const key of Object.keys(fileValues)) {
    if (!known.has(key)) problems.push(`Unknown setting \`${key}\` in config file; known settings: ${[...known].join(', ')}`);
  }
  for (const key of Object.keys(input.options ?? {})) {
    if (!known.has(key)) problems.push(`Unknown option \`${key}\`; known options: ${[...known].join(', ')}`);
  }

  const values: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  for (const spec of specs) {
    const env = input.env?.[envName(spec.key)];
    const candidates: [SettingSource, unknown][] = [
      ['option', input.options?.[spec.key]],
      ['flag', input.flags?.[spec.key]],
      ['env', env === '' ? undefined : env],
      ['file', fileValues[spec.key]],
    ];
    const found = candidates.find(([, v]) => v !== undefined);
    if (!found) {
      values[spec.key] = spec.default;
      sources[spec.key] = 'default';
      continue;
    }
    const [source, raw] = found;
    const parsed = settingSchema(spec).safeParse(raw);
    if (parsed.success && spec.parseMap) {
      // a structured setting names the bad field inside it: `namespaces.chat:.historySize`
      const where = source === 'option' ? 'option' : source === 'flag' ? flagName(spec.key) : source === 'env' ? envName(spec.key) : 'in the config file';
      const checked = spec.parseMap(parsed.data);
      if (checked.ok) {
        values[spec.key] = checked.value;
        sources[spec.key] = source;
      } else {
        for (const p of checked.problems) problems.push(`Invalid value for \`${p.path}\` (${where}): ${p.text}`);
      }
    } else if (parsed.success) {
      values[spec.key] = parsed.data;
      sources[spec.key] = source;
    } else {
      // name what the user wrote: the API option, the flag, the env variable or the file key
      const message = parsed.error.issues[0]?.message ?? z.prettifyError(parsed.error);
      if (source === 'option') {
        problems.push(`Invalid value for option \`${spec.key}\`: expected ${message}, got ${show(raw)}`);
      } else {
        const where = source === 'flag' ? flagName(spec.key) : source === 'env' ? envName(spec.key) : `"${spec.key}" in the config file`;
        problems.push(`Invalid value for \`${spec.key}\` (${where}): expected ${message}, got ${show(raw)}`);
      }
    }
  }
  if (problems.length > 0) {
    throw new FloodgateError('FG_ERR_INVALID_CONFIG', problems.join('\n'), { problems });
  }
  return { values: Object.freeze(values) as Readonly<T>, sources: Object.freeze(sources) as Record<keyof T, SettingSource> };
}
