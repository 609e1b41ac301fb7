import type { ClaimValue, NamespaceMap } from '../config/namespace-settings.js';
import type { ServerSettings } from '../config/server-settings.js';
import { formatBytes, formatDuration } from '../config/units.js';
import { FloodgateError } from '../errors.js';
import { channelMatcher } from './upgrade-auth.js';
import type { HistoryLimits } from '../server/history.js';

/**
 * Channel namespaces: the effective options of a channel, from the longest configured prefix
 * that starts its name, else from the top-level settings. Resolved once per namespace at
 * start (frozen objects) in a radix tree, so `rulesFor()` on the publish and subscribe paths
 * allocates nothing and takes a step per branching point of the matching prefixes.
 */

/** The effective options of one channel. */
export interface ChannelRules {
  /** The matching prefix, or null when the channel is in no namespace (top-level settings). */
  readonly namespace: string | null;
  readonly historySize: number;
  readonly historyBytes: number;
  readonly historyTtl: number;
  /** The same bounds in the form the brokers take. */
  readonly history: Readonly<HistoryLimits>;
  /** Clients may publish; false = server API only. */
  readonly clientPublish: boolean;
  readonly presence: boolean;
  readonly joinLeave: boolean;
  readonly requireChannelsClaim: boolean;
  /** Claim name → accepted values; empty = no claim required. */
  readonly requireClaims: Readonly<Record<string, readonly ClaimValue[]>>;
}

/**
 * What the rules are resolved from. `presence` and `joinLeave` are the top-level defaults of the
 * presence feature; when a build has no such settings they are off.
 */
export type NamespaceDefaults = Pick<ServerSettings, 'historySize' | 'historyBytes' | 'historyTtl' | 'namespaces'> & {
  presence?: boolean;
  joinLeave?: boolean;
};

/** The claims of a verified connection token that access rules read. */
export type AccessClaims = { channels?: string[] } & Record<string, unknown>;

function claimHolds(value: unknown, accepted: readonly ClaimValue[]): boolean {
  if (Array.isArray(value)) return value.some((v) => accepted.includes(v as ClaimValue));
  return accepted.includes(value as ClaimValue);
}

/**
 * A radix tree of the prefixes: each edge holds a run of characters, so a lookup takes one
 * Map.get and one startsWith per branching point along the channel name, whatever the number of
 * namespaces (1000 `tenant-NNNN:` prefixes cost three steps). Measured in benchmarks/namespaces.
 */
interface RadixNode {
  rules: ChannelRules | undefined;
  /** Outgoing edges by the first UTF-16 code unit of their label. */
  edges: Map<number, RadixEdge> | undefined;
}
interface RadixEdge {
  label: string;
  node: RadixNode;
}

function insert(root: RadixNode, key: string, rules: ChannelRules): void {
  let node = root;
  let i = 0;
  for (;;) {
    if (i === key.length) {
      node.rules = rules;
      return;
    }
    node.edges ??= new Map();
    const edge = node.edges.get(key.charCodeAt(i));
    if (edge === undefined) {
      node.edges.set(key.charCodeAt(i), { label: key.slice(i), node: { rules, edges: undefined } });
      return;
    }
    const label = edge.label;
    let k = 0;
    while (k < label.length && i + k < key.length && label.charCodeAt(k) === key.charCodeAt(i + k)) k++;
    if (k < label.length) {
      // the key leaves this edge part-way: split it where they part
      const mid: RadixNode = { rules: undefined, edges: new Map([[label.charCodeAt(k), { label: label.slice(k), node: edge.node }]]) };
      edge.label = label.slice(0, k);
      edge.node = mid;
    }
    node = edge.node;
    i += k;
  }
}

export class ChannelNamespaces {
  readonly defaults: ChannelRules;
  private readonly byPrefix = new Map<string, ChannelRules>();
  private readonly root: RadixNode = { rules: undefined, edges: undefined };
  /** Some namespace requires token claims: every connection gets an access check. */
  readonly hasClaimRules: boolean;

  constructor(s: NamespaceDefaults) {
    const top = {
      historySize: s.historySize, historyBytes: s.historyBytes, historyTtl: s.historyTtl,
      clientPublish: true, presence: s.presence ?? false, joinLeave: s.joinLeave ?? false,
      requireChannelsClaim: false, requireClaims: {},
    };
    this.defaults = freezeRules(null, top);
    for (const [prefix, o] of Object.entries(s.namespaces ?? {})) {
      this.byPrefix.set(prefix, freezeRules(prefix, {
        historySize: o.historySize ?? top.historySize,
        historyBytes: o.historyBytes ?? top.historyBytes,
        historyTtl: o.historyTtl ?? top.historyTtl,
        clientPublish: o.clientPublish ?? true,
        presence: o.presence ?? top.presence,
        joinLeave: o.joinLeave ?? top.joinLeave,
        requireChannelsClaim: o.requireChannelsClaim ?? false,
        requireClaims: o.requireClaims ?? {},
      }));
    }
    for (const [prefix, rules] of this.byPrefix) insert(this.root, prefix, rules);
    this.hasClaimRules = [...this.byPrefix.values()].some((r) => r.requireChannelsClaim || Object.keys(r.requireClaims).length > 0);
  }

  /** The effective options of `channel`: the longest matching prefix wins; none = the top-level settings. */
  rulesFor(channel: string): ChannelRules {
    let found = this.defaults;
    let node = this.root;
    let i = 0;
    while (node.edges !== undefined && i < channel.length) {
      const edge = node.edges.get(channel.charCodeAt(i));
      if (edge === undefined || !channel.startsWith(edge.label, i)) break;
      i += edge.label.length;
      node = edge.node;
      if (node.rules !== undefined) found = node.rules; // a longer prefix further on wins
    }
    return found;
  }

  /** The brokers' view: history bounds of a channel. */
  readonly historyFor = (channel: string): HistoryLimits => this.rulesFor(channel).history;

  /** Whether a token with these claims may use `channel`: its `channels` claim, then the namespace's claim rules. */
  allows(channel: string, claims: AccessClaims, listed: ((channel: string) => boolean) | undefined = channelMatcher(claims.channels)): boolean {
    if (listed !== undefined && !listed(channel)) return false;
    const r = this.rulesFor(channel);
    if (r.requireChannelsClaim && listed === undefined) return false;
    for (const name in r.requireClaims) if (!claimHolds(claims[name], r.requireClaims[name]!)) return false;
    return true;
  }

  /**
   * A connection's access check from its token's claims. Undefined = every channel allowed
   * (no check per frame), the common case without a `channels` claim or claim rules.
   */
  accessFor(claims: AccessClaims): ((channel: string) => boolean) | undefined {
    const listed = channelMatcher(claims.channels);
    if (!this.hasClaimRules) return listed;
    return (channel) => this.allows(channel, claims, listed);
  }

  /** What the channel's namespace requires of a token, for the error a refused client gets ('' = nothing beyond `channels`). */
  requirement(channel: string): string {
    const r = this.rulesFor(channel);
    const needs: string[] = [];
    if (r.requireChannelsClaim) needs.push('the `channels` claim to list the channel');
    for (const [name, values] of Object.entries(r.requireClaims)) needs.push(`claim \`${name}\` to be ${values.map((v) => JSON.stringify(v)).join(' or ')}`);
    return needs.length === 0 ? '' : `namespace ${r.namespace} requires ${needs.join(' and ')}`;
  }

  /**
   * Claim rules need verified tokens: without authSecret, authPublicKey or authJwks no client
   * could ever meet them, which is a configuration mistake, not a policy.
   */
  checkTokensConfigured(tokensChecked: boolean): void {
    if (tokensChecked || !this.hasClaimRules) return;
    const [prefix, r] = [...this.byPrefix].find(([, x]) => x.requireChannelsClaim || Object.keys(x.requireClaims).length > 0)!;
    const field = r.requireChannelsClaim ? 'requireChannelsClaim' : 'requireClaims';
    throw new FloodgateError(
      'FG_ERR_INVALID_CONFIG',
      `Invalid value for \`namespaces.${prefix}.${field}\`: token claims are only known when the gateway checks tokens; set authSecret, authPublicKey or authJwks`,
    );
  }

  /** One line per namespace, longest prefix first, for the startup block. */
  describe(): string[] {
    return [...this.byPrefix.values()]
      .sort((a, b) => b.namespace!.length - a.namespace!.length || (a.namespace! < b.namespace! ? -1 : 1))
      .map((r) => `${r.namespace} ${describeRules(r)}`);
  }

  /** The effective options of every namespace, for the startup report's JSON. */
  list(): ChannelRules[] {
    return [...this.byPrefix.values()];
  }
}

export function describeRules(r: ChannelRules): string {
  const parts = [
    r.historySize === 0 || r.historyBytes === 0 ? 'no history' : `history ${r.historySize} messages, ${formatBytes(r.historyBytes)}, ${r.historyTtl === 0 ? 'no age bound' : formatDuration(r.historyTtl)}`,
    r.clientPublish ? 'clients publish' : 'server publish only',
    `presence ${r.presence ? 'on' : 'off'}`,
    `join/leave ${r.joinLeave ? 'on' : 'off'}`,
  ];
  if (r.requireChannelsClaim) parts.push('token `channels` must list the channel');
  for (const [name, values] of Object.entries(r.requireClaims)) parts.push(`claim ${name} ∈ {${values.join(', ')}}`);
  return parts.join(', ');
}

function freezeRules(namespace: string | null, o: Omit<ChannelRules, 'namespace' | 'history'>): ChannelRules {
  return Object.freeze({
    namespace,
    ...o,
    requireClaims: Object.freeze({ ...o.requireClaims }),
    history: Object.freeze({ maxCount: o.historySize, maxBytes: o.historyBytes, ttlMs: o.historyTtl }),
  });
}
