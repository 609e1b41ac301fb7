import type { Broker, Publication } from '../broker/broker.js';
import type { PresenceEvent } from '../broker/presence.js';
import type { PresenceRulesFor } from '../auth/presence-rules.js';
import { CloseCode } from '../protocol/close-codes.js';
import { buildTextFrame } from './frame-writer.js';
import type { Session } from './session.js';

/**
 * This node's channel → subscribers index. It watches a channel on the broker while at least
 * one local session holds it, and fans each publication out with the frame built once.
 */
export class Hub {
  private readonly channels = new Map<string, Set<Session>>();
  subscriptions = 0;

  constructor(private readonly broker: Broker, private readonly presenceRules: PresenceRulesFor) {
    broker.onPublication = (pub) => this.fanOut(pub);
    broker.onPresenceEvent = (ev) => this.fanOutEvent(ev);
    broker.onGap = (channel) => {
      for (const s of this.channels.get(channel) ?? []) s.closeWith(CloseCode.GOING_AWAY, 'missed publications; reconnect and recover');
    };
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** Channels with local subscribers and how many (GET /api/channels). */
  list(): { channel: string; subscribers: number }[] {
    return [...this.channels].map(([channel, set]) => ({ channel, subscribers: set.size }));
  }

  add(channel: string, session: Session): void {
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
      this.broker.watch(channel, this.presenceRules(channel).joinLeave);
    }
    set.add(session);
    this.subscriptions++;
  }

  remove(channel: string, session: Session): void {
    const set = this.channels.get(channel);
    if (!set?.delete(session)) return;
    this.subscriptions--;
    if (set.size === 0) {
      this.channels.delete(channel);
      this.broker.unwatch(channel);
    }
  }

  private fanOut(pub: Publication): void {
    const set = this.channels.get(pub.channel);
    if (!set) return;
    const wire = buildTextFrame(pub.frame);
    for (const session of set) session.deliver(pub, wire);
  }

  /** A join or leave: written to every subscriber of the channel on this node (built once), except the one it is about. */
  private fanOutEvent(ev: PresenceEvent): void {
    const set = this.channels.get(ev.channel);
    if (!set) return;
    const wire = buildTextFrame(ev.frame);
    for (const session of set) session.deliverEvent(ev, wire);
  }
}
