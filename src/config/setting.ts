import { z } from 'zod';
import { DECIMAL_NUMBER, formatBytes, formatDuration, formatDurationInput, formatSizeInput, parseDuration, parseSize } from './units.js';
import { exceedsDepth } from '../protocol/depth.js';

/**
 * Deepest nesting of arrays/objects a config file or a JSON setting may have (no setting needs
 * more than 5). Checked by a loop over the text before anything recursive sees the value.
 */
export const MAX_CONFIG_DEPTH = 64;

/** A value as an error message shows it: short, and Infinity/NaN by name (JSON would write `null`). */
export function showValue(v: unknown): string {
  const text = typeof v === 'string' ? v : typeof v === 'number' && !Number.isFinite(v) ? String(v) : (JSON.stringify(v) ?? String(v));
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * One setting of one component: where it can come from (flag, env, file key), its kind,
 * its accepted range and its default. Schemas are built from these, and so are the error
 * messages, the --help text and docs/configuration.md, so the four cannot disagree.
 */
export type SettingKind = 'int' | 'number' | 'duration' | 'size' | 'string' | 'boolean' | 'list' | 'enum' | 'map';

/** One bad field inside a structured (`map`) setting: its dotted path and what is wrong with it. */
export interface FieldProblem {
  /** e.g. `namespaces.chat:.historySize` */
  path: string;
  /** e.g. "expected an integer from 0 to 10000000, got `-1` (number)" */
  text: string;
}

/** What a `map` setting's parser answers: the normalised value, or every bad field at once. */
export type MapParse = { ok: true; value: unknown } | { ok: false; problems: FieldProblem[] };

export interface SettingSpec {
  key: string;
  kind: SettingKind;
  doc: string;
  default: unknown;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Extra values outside min..max that are still accepted (e.g. 'max' for the backlog). */
  aliases?: readonly string[];
  /** Describes the default when it is computed at startup rather than fixed. */
  defaultDoc?: string;
  /** Kind `map`: checks and normalises the structure, naming each bad field (flags and env give it as JSON). */
  parseMap?: (raw: unknown) => MapParse;
  /** Kind `map`: what it accepts, in words (--help, docs/configuration.md). */
  acceptsDoc?: string;
}

export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function envName(key: string): string {
  return `FLOODGATE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** The default in the units users type (`5s`, `64MB`, `max`), for --help and docs/configuration.md. */
export function describeDefault(spec: SettingSpec): string {
  if (spec.defaultDoc !== undefined) return spec.defaultDoc;
  const d = spec.default;
  if (typeof d === 'number' && spec.kind === 'duration') return `\`${formatDurationInput(d)}\``;
  if (typeof d === 'number' && spec.kind === 'size') return `\`${formatSizeInput(d)}\``;
  if (Array.isArray(d)) return d.length === 0 ? 'none' : `\`${d.join(',')}\``;
  if (spec.kind === 'map') return d !== null && typeof d === 'object' && Object.keys(d).length === 0 ? 'none' : `\`${JSON.stringify(d)}\``;
  if (d === '') return 'empty';
  return `\`${String(d)}\``;
}

export function describeAccepted(spec: SettingSpec): string {
  const alias = spec.aliases?.length ? ` or ${spec.aliases.map((a) => `\`${a}\``).join(', ')}` : '';
  const range = (fmt: (n: number) => string, noun: string): string => {
    if (spec.min !== undefined && spec.max !== undefined) return `${noun} from ${fmt(spec.min)} to ${fmt(spec.max)}`;
    if (spec.min !== undefined) return `${noun} from ${fmt(spec.min)} up`;
    return noun;
  };
  switch (spec.kind) {
    case 'int':
      return range(String, 'an integer') + alias;
    case 'number':
      return range(String, 'a number') + alias;
    case 'duration':
      return range(formatDuration, 'a duration (e.g. 500ms, 5s, 2m)') + alias;
    case 'size':
      return range(formatBytes, 'a size (e.g. 64KB, 512MB)') + alias;
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${spec.values!.map((v) => `\`${v}\``).join(', ')}`;
    case 'list':
      return 'a comma-separated list';
    case 'string':
      return 'a string';
    case 'map':
      return spec.acceptsDoc ?? 'a map (JSON from a flag or the environment)';
  }
}

function inRange(spec: SettingSpec, n: number): boolean {
  return (spec.min === undefined || n >= spec.min) && (spec.max === undefined || n <= spec.max);
}

/** The zod schema of one setting. Strings from flags and env are parsed here, once. */
export function settingSchema(spec: SettingSpec): z.ZodType {
  const accepts = (v: unknown): boolean => typeof v === 'string' && (spec.aliases ?? []).includes(v);
  switch (spec.kind) {
    case 'int':
    case 'number':
    case 'duration':
    case 'size': {
      const parse = spec.kind === 'duration' ? parseDuration : spec.kind === 'size' ? parseSize : (v: unknown) =>
        typeof v === 'number' ? v : typeof v === 'string' && DECIMAL_NUMBER.test(v.trim()) ? Number(v) : Number.NaN;
      return z.unknown().transform((v, ctx) => {
        if (accepts(v)) return v;
        const n = parse(v);
        const ok = Number.isFinite(n) && (spec.kind !== 'int' || Number.isInteger(n)) && inRange(spec, n);
        if (!ok) {
          ctx.addIssue({ code: 'custom', message: describeAccepted(spec) });
          return z.NEVER;
        }
        return n;
      });
    }
    case 'boolean':
      return z.unknown().transform((v, ctx) => {
        if (v === true || v === 'true' || v === '1' || v === 'yes') return true;
        if (v === false || v === 'false' || v === '0' || v === 'no') return false;
        ctx.addIssue({ code: 'custom', message: describeAccepted(spec) });
        return z.NEVER;
      });
    case 'enum':
      return z.unknown().transform((v, ctx) => {
        if (typeof v === 'string' && spec.values!.includes(v)) return v;
        ctx.addIssue({ code: 'custom', message: describeAccepted(spec) });
        return z.NEVER;
      });
    case 'list':
      return z.unknown().transform((v, ctx) => {
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
        if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
        ctx.addIssue({ code: 'custom', message: describeAccepted(spec) });
        return z.NEVER;
      });
    case 'string':
      return z.unknown().transform((v, ctx) => {
        if (typeof v === 'string') return v;
        ctx.addIssue({ code: 'custom', message: describeAccepted(spec) });
        return z.NEVER;
      });
    case 'map':
      // only the shape here; resolveSettings() calls parseMap for the field-by-field check
      return z.unknown().transform((v, ctx) => {
        if (typeof v === 'string' && exceedsDepth(v, MAX_CONFIG_DEPTH)) {
          ctx.addIssue({ code: 'custom', message: `JSON nested at most ${MAX_CONFIG_DEPTH} levels deep; this nests deeper than ${MAX_CONFIG_DEPTH} levels` });
          return z.NEVER;
        }
        const parsed = parseMapInput(v);
        if (parsed !== undefined) return parsed;
        ctx.addIssue({ code: 'custom', message: describeAccepted(spec) });
        return z.NEVER;
      });
  }
}

/** A `map` setting from a file or the API is an object already; from a flag or env it is JSON text. */
export function parseMapInput(v: unknown): Record<string, unknown> | undefined {
  let value = v;
  if (typeof v === 'string') {
    try {
      value = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}
