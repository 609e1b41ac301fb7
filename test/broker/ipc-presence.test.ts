import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken } from '../../src/auth/create-token.js';
import { openPeer, presence, subscribe, type Peer } from '../helpers/ws-peer.js';
import { startGateway } from '../helpers/scale-gateway.js';
import { call } from '../helpers/http-call.js';

// `serve --workers 2` with the memory broker: the primary holds presence for both workers (IPC).
// Connections on different workers see each other; a worker killed with SIGKILL leaves its
// channels (the primary announces its connections' leaves to the other worker's subscribers).

const secret = 'ipc-presence';
const inAnHour = (): number => Math.floor(Date.now() / 1000) + 3600;

/** Opens connections for `sub` until one lands on a worker other than `avoid` (round-robin: the next one does). */
async function peerOnOtherWorker(url: string, sub: string, avoid: string | undefined, extra: Peer[]): Promise<Peer> {
  for (let i = 0; i < 20; i++) {
    const p = await openPeer(`${url}?token=${createToken(secret, { sub, exp: inAnHour() })}`);
    if (p.frames[0].node !== avoid) return p;
    extra.push(p);
  }
  throw new Error('every connection landed on the same worker');
}

test('workers (IPC broker): presence and join/leave across workers; a SIGKILLed worker\'s connections leave', { timeout: 180_000 }, async () => {
  const g = await startGateway(0, ['--workers', '2', '--worker-balance', 'round-robin', '--auth-secret', secret, '--presence', '--join-leave']);
  const spare: Peer[] = [];
  const peers: Peer[] = [];
  try {
    const alice = await peerOnOtherWorker(g.url, 'alice', undefined, spare);
    const bob = await peerOnOtherWorker(g.url, 'bob', alice.frames[0].node, spare);
    peers.push(alice, bob);
    for (const p of spare) p.close(); // not subscribed: no presence, no leave
    await subscribe(alice, 'room', 1);
    await subscribe(bob, 'room', 1);
    const join = await alice.next((f) => f.type === 'join', 15_000);
    assert.equal(join.sub, 'bob');
    for (const p of [alice, bob]) {
      const f = await presence(p, 'room');
      assert.deepEqual([f.connections, f.users, f.subs.map((s: any) => s.sub)], [2, 2, ['alice', 'bob']]);
    }
    // a worker's /stats (and so the dashboard) shows the primary's entry count, reported every 2 s
    const statsDeadline = Date.now() + 60_000;
    let entries: unknown;
    while ((entries = (await call(g.port, 'GET', '/stats')).body.broker?.presenceEntries) !== 2 && Date.now() < statsDeadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(entries, 2, 'broker.presenceEntries of a worker: both workers\' connections, held by the primary');
    // bob's worker dies: its name is hostname:pid
    const bobPid = Number(String(bob.frames[0].node).split(':').pop());
    assert.ok(Number.isSafeInteger(bobPid) && bobPid > 0 && bobPid !== g.pid, bob.frames[0].node);
    process.kill(bobPid, 'SIGKILL');
    const leave = await alice.next((f) => f.type === 'leave', 15_000);
    assert.equal(leave.client, join.client);
    const after = await presence(alice, 'room');
    assert.deepEqual([after.connections, after.subs], [1, [{ sub: 'alice', connections: 1 }]]);
  } finally {
    for (const p of [...peers, ...spare]) p.close();
    await g.stop('SIGTERM');
  }
});
