import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGateway } from '../../src/server/gateway.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { openPeer, sleep } from '../helpers/ws-peer.js';

const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;

test('publish reaches every subscriber with one offset sequence, and the publisher gets an ack', async () => {
  const g = await createGateway(base);
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const subs = await Promise.all([1, 2, 3].map(() => openPeer(url)));
    for (const s of subs) {
      s.send({ type: 'subscribe', id: 1, channel: 'news' });
      await s.next((f) => f.type === 'subscribed');
    }
    const pub = await openPeer(url);
    for (let i = 0; i < 10; i++) pub.send({ type: 'publish', id: 100 + i, channel: 'news', data: { i } });
    const acks = await pub.count((f) => f.type === 'published', 10);
    assert.deepEqual(acks.map((a) => a.offset), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const s of subs) {
      const msgs = await s.count((f) => f.type === 'message', 10);
      assert.deepEqual(msgs.map((m) => m.offset), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual(msgs.map((m) => m.data.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    for (const p of [...subs, pub]) p.close();
  } finally {
    await g.close(1000);
  }
});

test('resubscribe with {epoch, offset} replays exactly the missed messages, then live ones', async () => {
  const g = await createGateway(base);
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const pub = await openPeer(url);
    const a = await openPeer(url);
    a.send({ type: 'subscribe', id: 1, channel: 'c' });
    const sub = await a.next((f) => f.type === 'subscribed');
    for (let i = 1; i <= 3; i++) pub.send({ type: 'publish', id: i, channel: 'c', data: i });
    await a.count((f) => f.type === 'message', 3);
    a.close();
    for (let i = 4; i <= 8; i++) pub.send({ type: 'publish', id: i, channel: 'c', data: i });
    await pub.count((f) => f.type === 'published', 8);
    const b = await openPeer(url);
    b.send({ type: 'subscribe', id: 2, channel: 'c', recover: { epoch: sub.epoch, offset: 3 } });
    const ans = await b.next((f) => f.type === 'subscribed');
    assert.equal(ans.recovered, true);
    assert.equal(ans.replayed, 5);
    assert.equal(ans.offset, 8);
    pub.send({ type: 'publish', id: 9, channel: 'c', data: 9 });
    const msgs = await b.count((f) => f.type === 'message', 6);
    assert.deepEqual(msgs.map((m) => m.offset), [4, 5, 6, 7, 8, 9]);
    // a pong answered after the live message proves everything queued before it has arrived
    b.send({ type: 'ping', id: 77 });
    await b.next((f) => f.type === 'pong' && f.id === 77);
    assert.equal(b.frames.filter((f) => f.type === 'message').length, 6, 'no duplicates');
    assert.equal(g.stats().messages.replayedMessages, 5);

    b.send({ type: 'subscribe', id: 3, channel: 'c' });
    assert.equal((await b.next((f) => f.type === 'error' && f.id === 3)).code, 'FG_ERR_ALREADY_SUBSCRIBED');
    const c = await openPeer(url);
    c.send({ type: 'subscribe', id: 4, channel: 'c', recover: { epoch: 'someother', offset: 3 } });
    const wrong = await c.next((f) => f.type === 'subscribed');
    assert.deepEqual([wrong.recovered, wrong.reason, wrong.epoch], [false, 'epoch_changed', sub.epoch]);
    c.send({ type: 'subscribe', id: 5, channel: 'd', recover: { epoch: 'x', offset: 0 } });
    const fresh = await c.next((f) => f.id === 5);
    assert.deepEqual([fresh.type, fresh.recovered, fresh.reason, fresh.offset], ['subscribed', false, 'epoch_changed', 0]);
    assert.notEqual(fresh.epoch, 'x');
    c.send({ type: 'unsubscribe', id: 6, channel: 'c' });
    assert.deepEqual(await c.next((f) => f.id === 6), { type: 'unsubscribed', id: 6, channel: 'c' });
    for (const p of [pub, b, c]) p.close();
  } finally {
    await g.close(1000);
  }
});

test('recovery beyond the history window says history_gone', async () => {
  const g = await createGateway({ ...base, historySize: 3 });
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const pub = await openPeer(url);
    for (let i = 1; i <= 6; i++) pub.send({ type: 'publish', id: i, channel: 'h', data: i });
    const acks = await pub.count((f) => f.type === 'published', 6);
    const epoch = acks[0].epoch;
    const a = await openPeer(url);
    a.send({ type: 'subscribe', id: 1, channel: 'h', recover: { epoch, offset: 1 } });
    const gone = await a.next((f) => f.type === 'subscribed');
    assert.deepEqual([gone.recovered, gone.reason, gone.offset], [false, 'history_gone', 6]);
    const b = await openPeer(url);
    b.send({ type: 'subscribe', id: 1, channel: 'h', recover: { epoch, offset: 3 } });
    const ok = await b.next((f) => f.type === 'subscribed');
    assert.deepEqual([ok.recovered, ok.replayed], [true, 3]);
    // another channel has its own epoch, so h's epoch is not h2's
    b.send({ type: 'subscribe', id: 2, channel: 'h2', recover: { epoch, offset: 99 } });
    const other = await b.next((f) => f.id === 2);
    assert.deepEqual([other.type, other.recovered, other.reason, other.offset], ['subscribed', false, 'epoch_changed', 0]);
    assert.notEqual(other.epoch, epoch);
    const ahead = await openPeer(url);
    ahead.send({ type: 'subscribe', id: 3, channel: 'h', recover: { epoch, offset: 99 } });
    const aheadAns = await ahead.next((f) => f.id === 3);
    assert.deepEqual([aheadAns.recovered, aheadAns.reason, aheadAns.offset, aheadAns.epoch], [false, 'offset_ahead', 6, epoch]);
    for (const p of [pub, a, b, ahead]) p.close();
  } finally {
    await g.close(1000);
  }
});

test('malformed frames get coded errors and the connection lives; 20 in a row close it with 4002', async () => {
  const g = await createGateway({ ...base, rateBurst: 1000 });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    p.send('not json');
    p.send('[1,2]');
    p.send({ type: 'dance', id: 7 });
    p.send({ type: 'subscribe', id: 8, channel: 'bad channel!' });
    p.send({ type: 'subscribe', id: 9 });
    p.send({ type: 'publish', id: 10, channel: 'x' });
    p.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    p.send({ type: 'ping', id: 11 });
    const errors = await p.count((f) => f.type === 'error', 7);
    assert.deepEqual(errors.map((e) => e.code), [
      'FG_ERR_BAD_FRAME', 'FG_ERR_BAD_FRAME', 'FG_ERR_UNKNOWN_TYPE', 'FG_ERR_BAD_CHANNEL', 'FG_ERR_BAD_FRAME', 'FG_ERR_BAD_FRAME', 'FG_ERR_BINARY_FRAME',
    ]);
    assert.equal(errors[2].id, 7);
    assert.equal((await p.next((f) => f.type === 'pong')).id, 11);
    for (let i = 0; i < 20; i++) p.send('{');
    assert.equal(await p.closed, CloseCode.BAD_FRAMES);
    assert.equal(g.stats().closed.bad_frames, 1);
  } finally {
    await g.close(1000);
  }
});

test('a frame larger than maxPayload closes the connection with 1009', async () => {
  const g = await createGateway({ ...base, maxPayload: 1024 });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    p.send({ type: 'publish', channel: 'x', data: 'y'.repeat(2000) });
    assert.equal(await p.closed, 1009);
  } finally {
    await g.close(1000);
  }
});

test('the token bucket drops excess frames with FG_ERR_RATE_LIMITED, and persistent abuse closes with 4029', async () => {
  const g = await createGateway({ ...base, rateBurst: 5, rateRefill: 0.001, rateLimitClose: 10 });
  try {
    const p = await openPeer(`ws://127.0.0.1:${g.port}`);
    for (let i = 0; i < 8; i++) p.send({ type: 'ping', id: i });
    const pongs = await p.count((f) => f.type === 'pong', 5);
    const limited = await p.count((f) => f.type === 'error' && f.code === 'FG_ERR_RATE_LIMITED', 3);
    assert.deepEqual(pongs.map((f) => f.id), [0, 1, 2, 3, 4]);
    assert.equal(limited.length, 3);
    for (let i = 0; i < 10; i++) p.send({ type: 'ping' });
    assert.equal(await p.closed, CloseCode.RATE_LIMITED);
    const s = g.stats();
    assert.equal(s.closed.rate_limited, 1);
    // 3 dropped pings, then 7 more make 10 in a row and close; the last 3 arrive after the close
    // decision and are not counted
    assert.equal(s.messages.rateLimited, 10);
    assert.equal(p.frames.filter((f) => f.code === 'FG_ERR_RATE_LIMITED').length, 9, 'the 10th in a row is answered by the close, not an error');
  } finally {
    await g.close(1000);
  }
});

test('a slow consumer is closed with 4008 while other subscribers keep receiving', async () => {
  const g = await createGateway({ ...base, maxBufferedBytes: 64 * 1024, slowConsumerChecks: 1, rateBurst: 100000, rateRefill: 100000, historySize: 10 });
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const slow = await openPeer(url);
    const fast = await openPeer(url);
    for (const p of [slow, fast]) {
      p.send({ type: 'subscribe', id: 1, channel: 'firehose' });
      await p.next((f) => f.type === 'subscribed');
    }
    // the slow client stops reading: its kernel buffers fill, then the server's send buffer grows
    (slow.ws as any)._socket.pause();
    const pub = await openPeer(url);
    const payload = 'z'.repeat(8000);
    let sent = 0;
    const deadline = Date.now() + 20_000;
    while (g.stats().closed.slow_consumer === 0 && Date.now() < deadline) {
      for (let i = 0; i < 50; i++) pub.send({ type: 'publish', channel: 'firehose', data: payload });
      sent += 50;
      await sleep(20);
    }
    assert.equal(g.stats().closed.slow_consumer, 1, `slow consumer not closed after ${sent} publications`);
    // read again at once: the close frame sits behind what was buffered, and the server cuts off
    // a peer that has not answered its close frame after 1 s
    (slow.ws as any)._socket.resume();
    assert.equal(await slow.closed, CloseCode.SLOW_CONSUMER);
    assert.equal(slow.closeReason, 'slow consumer');
    // the fast subscriber got everything published
    await fast.count((f) => f.type === 'message', sent, 10_000);
    assert.equal(fast.closeCode, undefined);
    fast.close();
    pub.close();
  } finally {
    await g.close(1000);
  }
});

test('a peer that stops answering pings is closed with 4010 after idleTimeout', async () => {
  const g = await createGateway({ ...base, idleTimeout: 1000, pingInterval: 500 });
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const mute = await openPeer(url, { autoPong: false });
    const alive = await openPeer(url);
    assert.equal(await mute.closed, CloseCode.IDLE_TIMEOUT);
    assert.equal(alive.closeCode, undefined, 'a peer answering pings stays');
    assert.equal(g.stats().closed.idle_timeout, 1);
    alive.close();
  } finally {
    await g.close(1000);
  }
});

test('a socket whose send buffer makes no progress for writeTimeout is closed (4009)', async () => {
  const g = await createGateway({
    ...base, writeTimeout: 500, maxBufferedBytes: 1024 ** 3, maxPayload: 128 * 1024, historySize: 2,
    rateBurst: 100000, rateRefill: 100000,
  });
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const stuck = await openPeer(url);
    stuck.send({ type: 'subscribe', id: 1, channel: 'big' });
    await stuck.next((f) => f.type === 'subscribed');
    (stuck.ws as any)._socket.pause();
    const pub = await openPeer(url);
    const payload = 'w'.repeat(100_000);
    const deadline = Date.now() + 20_000;
    while (g.stats().closed.write_timeout === 0 && Date.now() < deadline) {
      if (g.stats().messages.publications < 400) for (let i = 0; i < 20; i++) pub.send({ type: 'publish', channel: 'big', data: payload });
      await sleep(100);
    }
    assert.equal(g.stats().closed.write_timeout, 1);
    assert.equal(g.stats().closed.slow_consumer, 0);
    pub.close();
    stuck.close();
  } finally {
    await g.close(1000);
  }
});

test('when the broker reports lost publications, subscribers of that channel are sent to reconnect and recover', async () => {
  const { MemoryBroker } = await import('../../src/broker/memory-broker.js');
  const broker = new MemoryBroker({ maxCount: 100, maxBytes: 1e6, ttlMs: 0 });
  const g = await createGateway(base, { broker });
  try {
    const url = `ws://127.0.0.1:${g.port}`;
    const hit = await openPeer(url);
    const other = await openPeer(url);
    hit.send({ type: 'subscribe', id: 1, channel: 'lossy' });
    other.send({ type: 'subscribe', id: 1, channel: 'fine' });
    await hit.next((f) => f.type === 'subscribed');
    await other.next((f) => f.type === 'subscribed');
    broker.onGap!('lossy', 'history_gone');
    assert.equal(await hit.closed, CloseCode.GOING_AWAY);
    other.send({ type: 'ping', id: 2 });
    await other.next((f) => f.type === 'pong' && f.id === 2);
    assert.equal(other.closeCode, undefined);
    other.close();
  } finally {
    await g.close(1000);
  }
});
