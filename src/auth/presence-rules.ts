/**
 * Whether a channel keeps presence and announces joins and leaves. Everything that needs to know
 * (the session, the hub) asks through one `PresenceRulesFor` function, so the rules can come
 * from channel namespaces (options per channel prefix) without those parts changing.
 */
export interface PresenceRules {
  /** `presence` frames are answered, and each subscribed connection is recorded while it stays. */
  readonly presence: boolean;
  /** Subscribers get a `join` / `leave` message when a connection subscribes / leaves. */
  readonly joinLeave: boolean;
}

export type PresenceRulesFor = (channel: string) => PresenceRules;

/** The top-level settings, the same for every channel (namespaces override them per prefix). */
export function presenceRulesFromSettings(settings: { readonly presence: boolean; readonly joinLeave: boolean }): PresenceRulesFor {
  const rules: PresenceRules = Object.freeze({ presence: settings.presence, joinLeave: settings.joinLeave });
  return () => rules;
}
