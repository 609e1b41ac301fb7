import { FloodgateError } from '../errors.js';
import type { ClientFrame, PresenceFrame, PresenceSub } from '../protocol/frames.js';

/** `client.presence(channel)`: who is subscribed to the channel, over every node. */
export interface PresenceResult {
  channel: string;
  /** Subscribed connections, anonymous ones included. */
  connections: number;
  /** Distinct token `sub`s among them. */
  users: number;
  /** Connections without a token `sub`. */
  anonymous: number;
  /** The subs sorted by name, with their connection count; at most the server's presenceLimit. */
  subs: PresenceSub[];
  /** More subs are present than listed. */
  truncated: boolean;
}

interface Ask {
  id: number;
  channel: string;
  /** Generation of the connection it was sent on; 0 = not sent yet. */
  sentOn: number;
  resolve(r: PresenceResult): void;
  reject(e: FloodgateError): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface PresenceRequestsHost {
  send(frame: ClientFrame): void;
  takeId(): number;
  requestTimeout: number;
}

/**
 * Presence requests of one client. A request is sent once its channel's subscription is
 * answered on the current connection (the server answers presence to subscribers only), and
 * sent again after a reconnect: it only reads, so asking twice is harmless. It ends with the
 * answer, an error frame, requestTimeout, an unsubscribe or the client's close.
 */
export class PresenceRequests {
  private readonly asks = new Map<number, Ask>();

  constructor(private readonly host: PresenceRequestsHost) {}

  get size(): number {
    return this.asks.size;
  }

  /** `subscribedOn`: the current connection's generation when the channel is subscribed on it, else 0. */
  ask(channel: string, subscribedOn: number): Promise<PresenceResult> {
    return new Promise<PresenceResult>((resolve, reject) => {
      const id = this.host.takeId();
      const ask: Ask = {
        id, channel, sentOn: 0, resolve, reject,
        timer: setTimeout(() => this.settle(ask, new FloodgateError('FG_ERR_PRESENCE_UNAVAILABLE', `presence of ${channel}: no answer within requestTimeout (${this.host.requestTimeout} ms)`, { channel })), this.host.requestTimeout),
      };
      this.asks.set(id, ask);
      if (subscribedOn > 0) this.sendAsk(ask, subscribedOn);
    });
  }

  /** The channel's subscription was answered on connection `gen`: send what waits for it. */
  subscribed(channel: string, gen: number): void {
    for (const ask of this.asks.values()) if (ask.channel === channel && ask.sentOn !== gen) this.sendAsk(ask, gen);
  }

  private sendAsk(ask: Ask, gen: number): void {
    ask.sentOn = gen;
    this.host.send({ type: 'presence', id: ask.id, channel: ask.channel });
  }

  /** True when the frame answered one of these requests. */
  answered(f: PresenceFrame): boolean {
    const ask = f.id === undefined ? undefined : this.asks.get(f.id);
    if (ask === undefined) return false;
    this.settle(ask, { channel: f.channel, connections: f.connections, users: f.users, anonymous: f.anonymous, subs: f.subs, truncated: f.truncated });
    return true;
  }

  /** An error frame: true when it answered one of these requests (which then rejects with it). */
  refused(id: number, err: FloodgateError): boolean {
    const ask = this.asks.get(id);
    if (ask === undefined) return false;
    this.settle(ask, err);
    return true;
  }

  /** The application unsubscribed from the channel: its requests cannot be answered. */
  unsubscribed(channel: string): void {
    this.rejectChannel(channel, new FloodgateError('FG_ERR_NOT_SUBSCRIBED', `presence of ${channel}: unsubscribed before the answer`, { channel }));
  }

  /** The channel's subscribe was refused (e.g. FG_ERR_FORBIDDEN_CHANNEL): its requests end with that refusal. */
  rejectChannel(channel: string, err: FloodgateError): void {
    for (const ask of [...this.asks.values()]) if (ask.channel === channel) this.settle(ask, err);
  }

  rejectAll(err: FloodgateError): void {
    for (const ask of [...this.asks.values()]) this.settle(ask, err);
  }

  private settle(ask: Ask, outcome: PresenceResult | FloodgateError): void {
    if (this.asks.get(ask.id) !== ask) return;
    this.asks.delete(ask.id);
    clearTimeout(ask.timer);
    if (outcome instanceof FloodgateError) ask.reject(outcome);
    else ask.resolve(outcome);
  }
}
