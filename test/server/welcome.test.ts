import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WelcomeText } from '../../src/server/welcome.js';
import { encodeServerFrame } from '../../src/protocol/codec.js';
import { readServerFrame } from '../../src/protocol/server-frame.js';

const seed = Number(process.env.FG_FC_SEED ?? Date.now() % 2 ** 31);

test('the welcome text is byte for byte the encoded welcome frame, for any node, settings, session and expiry', () => {
  fc.assert(
    fc.property(
      fc.string(), fc.nat(), fc.nat(), fc.nat(), fc.double({ noNaN: true, noDefaultInfinity: true, min: 0, max: 1e6 }), fc.nat(),
      fc.string(), fc.oneof(fc.constant(0), fc.nat()),
      (node, pingInterval, maxPayload, rateBurst, rateRefill, idempotencyWindow, session, exp) => {
        const fields = { type: 'welcome' as const, node, pingInterval, maxPayload, rateBurst, rateRefill, idempotencyWindow };
        const frame = WelcomeText.frame(fields, session, exp);
        const text = new WelcomeText(fields).text(session, exp);
        assert.equal(text, encodeServerFrame(frame));
        assert.deepEqual(JSON.parse(text), exp > 0 ? { ...fields, session, exp } : { ...fields, session });
      },
    ),
    { seed, numRuns: 300 },
  );
});

test('the welcome text is a frame the SDK reads, with the expiry only when there is one', () => {
  const w = new WelcomeText({ type: 'welcome', node: 'n"1\\', pingInterval: 25000, maxPayload: 65536, rateBurst: 50, rateRefill: 20, idempotencyWindow: 0 });
  const read = (text: string) => {
    const r = readServerFrame(text);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    return r.frame as { type: string; session: string; exp?: number; node: string };
  };
  const plain = read(w.text('a1', 0));
  assert.equal(plain.type, 'welcome');
  assert.equal(plain.exp, undefined);
  const withExp = read(w.text('a2', 1_900_000_000));
  assert.equal(withExp.session, 'a2');
  assert.equal(withExp.exp, 1_900_000_000);
  assert.equal(withExp.node, 'n"1\\');
});
