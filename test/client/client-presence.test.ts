// The SDK's presence() and join/leave events against a real gateway (memory broker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type ClientOptions, type JoinLeaveEvent } from '../../src/client/index.js';
import { FloodgateError } from '../../src/errors.js';
import { createGateway } from '../../src/server/gateway.js';
import { createToken } from '../../src/auth/create-token.js';
import { TcpProxy } from './helpers/tcp-proxy.js';
import { until } from './helpers/exactly-once.js';

const secret = 'sdk-presence';
const quiet = { host: '127.0.0.1', port: 0, logLevel: 'silent' as const };
const fast: ClientOptions = { initialDelay: 20, multiplier: 1.5, maxDelay: 200, circuitThreshold: 0, connectTimeout: 3000, requestTimeout: 10_000 };
const inAnHour = (): number => Math.floor(Date.now() / 1000) + 3600;

function clientFor(port: number, sub: string): Client {
  return new Client(`ws://127.0.0.1:${port}`, { ...fast, token: createToken(secret, { sub, exp: inAnHour() }) });
}

async function rejection(p: Promise<unknown>): Promise<FloodgateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FloodgateError, String(err));
    return err;
  }
  throw new Error('expected a rejection');
}

test('presence() waits for the subscription, answers typed counts; join and leave arrive as subscription events', { timeout: 30_000 }, async () => {
  const g = await createGateway({ ...quiet, authSecret: secret, presence: true, joinLeave: true });
  const alice = clientFor(g.port, 'alice');
  const bob = clientFor(g.port, 'bob');
  try {
    const room = alice.subscribe('room');
    const joins: JoinLeaveEvent[] = [];
    const leaves: JoinLeaveEvent[] = [];
    room.on('join', (e) => joins.push(e));
    room.on('leave', (e) => leaves.push(e));
    // asked before the subscription is answered: sent once it is
    const first = await alice.presence('room');
    assert.deepEqual(first, { channel: 'room', connections: 1, users: 1, anonymous: 0, subs: [{ sub: 'alice', connections: 1 }], truncated: false });

    const bobRoom = bob.subscribe('room');
    await until(() => joins.length === 1, 10_000, 'alice hears bob join');
    assert.equal(joins[0].sub, 'bob');
    assert.equal(joins[0].channel, 'room');
    const both = await bobRoom.presence();
    assert.deepEqual([both.connections, both.users, both.subs.map((s) => s.sub)], [2, 2, ['alice', 'bob']]);

    bobRoom.unsubscribe();
    await until(() => leaves.length === 1, 10_000, 'alice hears bob leave');
    assert.deepEqual(leaves[0], joins[0]);
    // not subscribed: refused by the SDK without a round trip
    const notSub = await rejection(bob.presence('room'));
    assert.equal(notSub.code, 'FG_ERR_NOT_SUBSCRIBED');
    assert.equal((await rejection(bob.presence('bad channel'))).code, 'FG_ERR_BAD_CHANNEL');
    assert.equal(alice.stats().pendingRequests, 0);
  } finally {
    await Promise.all([alice.close(), bob.close()]);
    await g.close(1000);
  }
});

test('presence() is refused with the server\'s code when presence is off; close() rejects what waits', { timeout: 30_000 }, async () => {
  const g = await createGateway({ ...quiet, authSecret: secret });
  const c = clientFor(g.port, 'carol');
  try {
    c.subscribe('room');
    assert.equal((await rejection(c.presence('room'))).code, 'FG_ERR_PRESENCE_OFF');
    // a subscribe the server refuses ends the presence requests waiting for it, with its code
    const tokenLimited = new Client(`ws://127.0.0.1:${g.port}`, { ...fast, token: createToken(secret, { sub: 'eve', exp: inAnHour(), channels: ['mine'] }) });
    tokenLimited.subscribe('yours');
    assert.equal((await rejection(tokenLimited.presence('yours'))).code, 'FG_ERR_FORBIDDEN_CHANNEL');
    await tokenLimited.close();
    c.subscribe('other');
    const waiting = c.presence('other');
    const closed = c.close();
    assert.equal((await rejection(waiting)).code, 'FG_ERR_CLIENT_CLOSED');
    await closed;
  } finally {
    await c.close();
    await g.close(1000);
  }
});

test('a presence() asked while the connection is down is answered after the reconnect and resubscribe', { timeout: 30_000 }, async () => {
  const g = await createGateway({ ...quiet, authSecret: secret, presence: true });
  const proxy = await new TcpProxy(g.port).start();
  const dave = clientFor(proxy.port, 'dave');
  try {
    const sub = dave.subscribe('room');
    await dave.presence('room');
    proxy.cut();
    await until(() => sub.state === 'subscribing', 10_000, 'the drop is noticed');
    const asked = dave.presence('room');
    await proxy.start(); // the path is back: reconnect, resubscribe, then the request goes out
    const answer = await asked;
    assert.equal(sub.state, 'subscribed');
    assert.deepEqual([answer.connections, answer.subs], [1, [{ sub: 'dave', connections: 1 }]]);
    assert.equal(dave.stats().drops, 1);
  } finally {
    await dave.close();
    await proxy.stop();
    await g.close(1000);
  }
});
