import { WebSocket } from 'ws';

/**
 * A minimal reconnect-and-recover subscriber written against docs/protocol.md (the SDK in
 * src/client/ was not available when the failover test was written): it keeps the epoch and
 * offset of the last message it processed, reconnects with backoff and jitter when the
 * connection drops, resubscribes with `recover`, and drops duplicates by offset. It records
 * anything that would be a hole: a gap in offsets, a changed epoch, or `recovered: false`.
 */
export class RecoveringSubscriber {
  epoch: string | undefined;
  offset = 0;
  readonly received: { offset: number; data: unknown }[] = [];
  readonly problems: string[] = [];
  /** Node name from each `welcome`, in order: shows which gateway served each connection. */
  readonly nodes: string[] = [];
  duplicatesDropped = 0;
  reconnects = 0;
  private ws: WebSocket | undefined;
  private stopped = false;
  private attempt = 0;

  constructor(private readonly url: string, private readonly channel: string) {}

  get node(): string | undefined {
    return this.nodes[this.nodes.length - 1];
  }

  /** Resolves once subscribed for the first time. */
  start(): Promise<void> {
    return new Promise((resolve) => this.connect(resolve));
  }

  private connect(onSubscribed?: () => void): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('error', () => {}); // 'close' follows
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString());
      if (f.type === 'welcome') {
        this.nodes.push(f.node);
        const frame: Record<string, unknown> = { type: 'subscribe', id: 1, channel: this.channel };
        if (this.epoch !== undefined) frame.recover = { epoch: this.epoch, offset: this.offset };
        ws.send(JSON.stringify(frame));
      } else if (f.type === 'subscribed') {
        this.attempt = 0;
        if (f.recovered === false) this.problems.push(`recovered: false (${f.reason}) at offset ${this.offset}`);
        if (this.epoch === undefined) {
          this.epoch = f.epoch;
          this.offset = f.offset;
        }
        onSubscribed?.();
        onSubscribed = undefined;
      } else if (f.type === 'message') {
        if (f.epoch === this.epoch && f.offset <= this.offset) {
          this.duplicatesDropped++;
          return;
        }
        if (f.epoch !== this.epoch) this.problems.push(`epoch changed ${this.epoch} → ${f.epoch}`);
        else if (f.offset !== this.offset + 1) this.problems.push(`gap: ${this.offset} → ${f.offset}`);
        this.epoch = f.epoch;
        this.offset = f.offset;
        this.received.push({ offset: f.offset, data: f.data });
      } else if (f.type === 'error') {
        this.problems.push(`error ${f.code}: ${f.message}`);
      }
    });
    ws.on('close', () => {
      if (this.stopped) return;
      this.reconnects++;
      this.attempt++;
      // exponential backoff with full jitter, capped: many clients of a dead node must not reconnect in lockstep
      const delay = Math.random() * Math.min(1000, 50 * 2 ** this.attempt);
      setTimeout(() => this.connect(onSubscribed), delay);
    });
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}
