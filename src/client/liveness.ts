/**
 * Dead-connection detection for one connection, with one timer. Every `pingInterval` it checks
 * whether anything arrived since the last check; if not, it sends a ping and gives the server
 * `pongTimeout` to send anything at all. Busy connections never ping, and nothing is
 * rescheduled per message (the hot path only increments a counter).
 */
export interface LivenessOptions {
  pingInterval: number;
  pongTimeout: number;
}

export interface LivenessHooks {
  ping(): void;
  dead(): void;
}

export class Liveness {
  /** Inbound frames and pings seen. */
  private seen = 0;
  private seenAtCheck = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: LivenessOptions, private readonly hooks: LivenessHooks) {}

  /** Anything arrived from the server. */
  activity(): void {
    this.seen++;
  }

  start(): void {
    if (this.options.pingInterval <= 0) return;
    this.stop();
    this.arm();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.seenAtCheck = this.seen;
    this.timer = setTimeout(() => this.check(), this.options.pingInterval);
  }

  private check(): void {
    this.timer = undefined;
    if (this.seen !== this.seenAtCheck) return this.arm();
    this.seenAtCheck = this.seen;
    this.hooks.ping();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.seen !== this.seenAtCheck) return this.arm();
      this.hooks.dead();
    }, this.options.pongTimeout);
  }
}
