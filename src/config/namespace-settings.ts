import { HISTORY_SETTINGS } from './history-settings.js';
import { settingSchema, showValue, type FieldProblem, type MapParse, type SettingSpec } from './setting.js';

/**
 * The `namespaces` setting: channel options by name prefix. Each field left out takes the
 * top-level value when the gateway resolves a channel's rules (src/auth/namespaces.ts), so a
 * namespace only says how it differs.
 */

/** A value a token claim may have to hold (`requireClaims`). */
export type ClaimValue = string | number | boolean;

export interface NamespaceOptions {
  historySize?: number;
  historyBytes?: number;
  historyTtl?: number;
  /** false = only the server publishes (POST /api/publish); a client publish gets FG_ERR_PUBLISH_FORBIDDEN. */
  clientPublish?: boolean;
  /** Presence (who is subscribed) is kept for the namespace's channels. */
  presence?: boolean;
  /** Subscribers get `join`/`leave` messages. */
  joinLeave?: boolean;
  /** The token's `channels` claim must list the channel (exactly or by a `prefix*` entry); no claim = refused. */
  requireChannelsClaim?: boolean;
  /** Claim name → accepted values: the token's claim (or one element of it, when a list) must be one of them. */
  requireClaims?: Record<string, ClaimValue[]>;
}

export type NamespaceMap = Readonly<Record<string, Readonly<NamespaceOptions>>>;

/** Longest prefix: a channel name is at most 128 characters, and a prefix must leave room for one more. */
export const MAX_PREFIX_LENGTH = 127;
/** Prefixes are looked up per publish and subscribe; the bound keeps that, and the startup block, small. */
export const MAX_NAMESPACES = 1000;
const MAX_CLAIM_VALUES = 100;
const MAX_CLAIM_NAME = 256;
const PREFIX_PATTERN = /^[A-Za-z0-9_\-:.@/]+$/;
/** Claims the token verifier checks itself, or that have a field of their own. */
const RESERVED_CLAIMS: Record<string, string> = {
  channels: 'use `requireChannelsClaim: true` to require the `channels` claim',
  exp: 'the verifier checks `exp` on every token',
  nbf: 'the verifier checks `nbf` on every token',
  iat: '`iat` is not an access rule',
};

const BOOLEAN_FIELDS = ['clientPublish', 'presence', 'joinLeave', 'requireChannelsClaim'] as const;
export const NAMESPACE_FIELDS = [...HISTORY_SETTINGS.map((s) => s.key), ...BOOLEAN_FIELDS, 'requireClaims'] as const;

export const NAMESPACES_ACCEPTS =
  `a map of channel prefix (1 to ${MAX_PREFIX_LENGTH} characters of A-Z a-z 0-9 _ - : . @ /, at most ${MAX_NAMESPACES}) to options: ` +
  `${NAMESPACE_FIELDS.join(', ')} (JSON from a flag or the environment)`;

const BOOLEAN_SPEC: SettingSpec = { key: 'flag', kind: 'boolean', default: false, doc: '' };

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  return typeof v === 'string' ? `\`${showValue(v)}\`` : `\`${showValue(v)}\` (${v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v})`;
}

function isScalar(v: unknown): v is ClaimValue {
  return (typeof v === 'string' && v.length > 0 && v.length <= 256) || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';
}

/**
 * `out[key] = value` for keys read from the user's map: a plain assignment of `__proto__` would
 * set the object's prototype and drop the entry silently (a valid prefix and claim name).
 */
function setOwn<T>(out: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

function parseClaims(raw: unknown, path: string, problems: FieldProblem[]): Record<string, ClaimValue[]> | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push({ path, text: `expected a map of claim name to an accepted value or a list of them (e.g. {role: [admin, trader]}), got ${show(raw)}` });
    return undefined;
  }
  const out: Record<string, ClaimValue[]> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const at = `${path}.${name}`;
    if (name.length === 0 || name.length > MAX_CLAIM_NAME) {
      problems.push({ path: at, text: `a claim name is 1 to ${MAX_CLAIM_NAME} characters` });
      continue;
    }
    if (Object.hasOwn(RESERVED_CLAIMS, name)) {
      problems.push({ path: at, text: `not accepted here: ${RESERVED_CLAIMS[name]}` });
      continue;
    }
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0 || list.length > MAX_CLAIM_VALUES || !list.every(isScalar)) {
      problems.push({ path: at, text: `expected a string (1 to 256 characters), number or boolean, or a list of 1 to ${MAX_CLAIM_VALUES} of them, got ${show(value)}` });
      continue;
    }
    setOwn(out, name, list as ClaimValue[]);
  }
  if (Object.keys(out).length === 0 && problems.length === 0) {
    problems.push({ path, text: 'expected at least one claim (leave requireClaims out to require none)' });
  }
  return out;
}

function parseOne(prefix: string, raw: unknown, problems: FieldProblem[]): NamespaceOptions | undefined {
  const base = `namespaces.${prefix}`;
  // YAML `"chat:":` with nothing after it is null: a namespace with every default
  if (raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push({ path: base, text: `expected a map of options (${NAMESPACE_FIELDS.join(', ')}), got ${show(raw)}` });
    return undefined;
  }
  const out: NamespaceOptions = {};
  const given = raw as Record<string, unknown>;
  for (const [field, value] of Object.entries(given)) {
    const path = `${base}.${field}`;
    if (!(NAMESPACE_FIELDS as readonly string[]).includes(field)) {
      problems.push({ path, text: `unknown field; known fields: ${NAMESPACE_FIELDS.join(', ')}` });
      continue;
    }
    if (field === 'requireClaims') {
      const claims = parseClaims(value, path, problems);
      if (claims) out.requireClaims = claims;
      continue;
    }
    const spec = HISTORY_SETTINGS.find((s) => s.key === field) ?? BOOLEAN_SPEC;
    // the top-level setting's own schema: same units (5s, 64KB), same range, same words
    const parsed = settingSchema(spec).safeParse(value);
    if (!parsed.success) {
      problems.push({ path, text: `expected ${parsed.error.issues[0]?.message ?? 'a valid value'}, got ${show(value)}` });
      continue;
    }
    (out as Record<string, unknown>)[field] = parsed.data;
  }
  return out;
}

/** Checks every prefix and field at once; each problem names `namespaces.<prefix>.<field>` and the accepted range. */
export function parseNamespaces(raw: unknown): MapParse {
  const problems: FieldProblem[] = [];
  const map = raw as Record<string, unknown>;
  const prefixes = Object.keys(map);
  if (prefixes.length > MAX_NAMESPACES) {
    return { ok: false, problems: [{ path: 'namespaces', text: `at most ${MAX_NAMESPACES} namespaces, got ${prefixes.length}` }] };
  }
  const out: Record<string, Readonly<NamespaceOptions>> = {};
  for (const prefix of prefixes) {
    if (prefix.endsWith('*') && PREFIX_PATTERN.test(prefix.slice(0, -1))) {
      problems.push({ path: `namespaces.${prefix}`, text: `a prefix matches every channel that starts with it: write \`${prefix.slice(0, -1)}\`, without the \`*\`` });
      continue;
    }
    if (prefix.length === 0 || prefix.length > MAX_PREFIX_LENGTH || !PREFIX_PATTERN.test(prefix)) {
      problems.push({
        path: `namespaces.${prefix}`,
        text: `a prefix is 1 to ${MAX_PREFIX_LENGTH} characters of A-Z a-z 0-9 _ - : . @ / (the characters of a channel name), got ${show(prefix)}`,
      });
      continue;
    }
    const options = parseOne(prefix, map[prefix], problems);
    if (options) setOwn(out, prefix, Object.freeze(options));
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: Object.freeze(out) };
}
