import type { WelcomeFrame } from '../protocol/frames.js';

/**
 * The text of the `welcome` frame, built once per gateway: every connection's welcome differs
 * only in its session id (and the token's expiry), so the rest is serialised once and each
 * handshake joins three strings instead of building an object and running JSON.stringify on it.
 * The result is byte for byte what `encodeServerFrame(frame)` gives for the same frame.
 */
export class WelcomeText {
  private readonly head: string;
  private readonly tail: string;

  /** `fields`: the frame without `session` and `exp`, in the order they are sent. */
  constructor(fields: Omit<WelcomeFrame, 'session' | 'exp'>) {
    const { type, node, ...rest } = fields;
    const head = JSON.stringify({ type, node });
    const tail = JSON.stringify(rest);
    this.head = `${head.slice(0, -1)},"session":`;
    // rest is never empty (pingInterval and maxPayload are always sent)
    this.tail = `,${tail.slice(1, -1)}`;
  }

  /** The frame's text for one connection; `exp` 0 = no token expiry (the field is left out). */
  text(session: string, exp: number): string {
    return exp > 0
      ? `${this.head}${JSON.stringify(session)}${this.tail},"exp":${exp}}`
      : `${this.head}${JSON.stringify(session)}${this.tail}}`;
  }

  /** The same frame as an object, for paths that send frames (the ws handleUpgrade path). */
  static frame(fields: Omit<WelcomeFrame, 'session' | 'exp'>, session: string, exp: number): WelcomeFrame {
    const { type, node, ...rest } = fields;
    const welcome: WelcomeFrame = { type, node, session, ...rest };
    if (exp > 0) welcome.exp = exp;
    return welcome;
  }
}
