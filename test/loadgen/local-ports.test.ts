import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, test } from 'node:test';
import { Connection, prepareUpgrade, type ConnectionHooks, type ConnectionTarget, type Failure } from '../../src/loadgen/connection.js';
import { LocalPorts, MAX_MISSES, parseReservedPorts } from '../../src/loadgen/local-ports.js';
import { rawWsServer } from './fault-servers.js';

test('workers take disjoint ports of the range, round-robin per source address, skipping reserved ones', () => {
  const reserved = parseReservedPorts('40002,40005-40006');
  assert.deepEqual([...reserved], [40002, 40005, 40006]);
  const first = (): number => 0;
  const w0 = new LocalPorts([40000, 40009], 0, 2, reserved, first);
  const w1 = new LocalPorts([40000, 40009], 1, 2, reserved, first);
  const take = (p: LocalPorts, a: string, n: number): number[] => Array.from({ length: n }, () => p.take(a)!);
  assert.deepEqual(take(w0, '127.0.0.2', 5), [40000, 40004, 40008, 40000, 40004]);
  assert.deepEqual(take(w1, '127.0.0.2', 4), [40001, 40003, 40007, 40009]);
  // each address has its own cursor
  assert.deepEqual(take(w0, '127.0.0.3', 2), [40000, 40004]);
  // by default each address starts somewhere in the worker's ports, then goes round in order
  const w = new LocalPorts([40000, 40009], 0, 1);
  const seq = take(w, '127.0.0.4', 11);
  assert.ok(seq.every((p) => p >= 40000 && p <= 40009));
  for (let i = 1; i < seq.length; i++) assert.equal(seq[i], seq[i - 1] === 40009 ? 40000 : seq[i - 1] + 1);
});

test('after MAX_MISSES fallbacks in a row an address goes back to the kernel\'s choice; a hit resets the count', () => {
  const p = new LocalPorts([40000, 40009], 0, 1);
  for (let i = 0; i < MAX_MISSES - 1; i++) {
    assert.notEqual(p.take('a'), undefined);
    p.missed('a');
  }
  p.hit('a');
  for (let i = 0; i < MAX_MISSES; i++) {
    assert.notEqual(p.take('a'), undefined);
    p.missed('a');
  }
  assert.equal(p.take('a'), undefined);
  assert.notEqual(p.take('b'), undefined);
});

let holder: Server | undefined;
after(() => new Promise<void>((r) => (holder ? holder.close(() => r()) : r())));

test('a chosen port that is taken falls back to the kernel\'s port: the connection opens, nothing is counted as failed', async () => {
  const srv = await rawWsServer(() => undefined);
  // a listener holds the only port in the range on the source address: bind() to it fails
  holder = createServer();
  await new Promise<void>((r) => holder!.listen(0, '127.0.0.2', r));
  const taken = (holder.address() as { port: number }).port;
  const ports = new LocalPorts([taken, taken], 0, 1);
  const target: ConnectionTarget = { kind: 'ws', host: '127.0.0.1', port: srv.port, path: '/', ports };
  prepareUpgrade(target, `127.0.0.1:${srv.port}`);
  const failures: Failure[] = [];
  let local: number | undefined;
  let conn: Connection | undefined;
  const opened = new Promise<void>((resolve, reject) => {
    const hooks: ConnectionHooks = {
      onConnect: () => undefined,
      onOpen: (c) => {
        local = c.socket?.localPort;
        resolve();
      },
      onFail: (_c, f) => {
        failures.push(f);
        reject(new Error(`${f.phase}.${f.detail}: ${f.example}`));
      },
      onText: () => undefined,
    };
    conn = new Connection(target, hooks, 60_000, 60_000);
    conn.start('127.0.0.2');
  });
  await opened;
  conn!.close('reset');
  assert.deepEqual(failures, []);
  assert.notEqual(local, taken);
  // the miss was counted against the address: MAX_MISSES − 1 more and the kernel chooses there
  for (let i = 0; i < MAX_MISSES - 1; i++) ports.missed('127.0.0.2');
  assert.equal(ports.take('127.0.0.2'), undefined);
  await srv.close();
});
