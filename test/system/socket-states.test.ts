import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { countSocketStates, parseProcNetTcp, readPortStates, scanPortStates } from '../../src/system/socket-states.js';

const V4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 5990 1 0000000000000000 100 0 0 10 0
   1: 0200007F:A001 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 5991 1 0000000000000000 20 4 30 10 -1
1234: 0100007F:1F90 0200007F:A001 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3 0000000000000000
   3: 0100007F:0050 0300007F:B002 01 00000000:00000000 00:00000000 00000000     0        0 5993 1 0000000000000000 20 4 30 10 -1
`;
const V6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000007 00:00000000 00000000     0        0 5387 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200007F:C350 03 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000
`;

test('scanPortStates counts what the full parse counts, for IPv4 and IPv6 rows, and reads the accept queue', () => {
  for (const text of [V4, V6]) {
    const full = countSocketStates(parseProcNetTcp(text), { port: 0x1f90 });
    assert.deepEqual(scanPortStates(text, 0x1f90).states, full);
  }
  assert.deepEqual(scanPortStates(V4, 0x1f90), { states: { LISTEN: 1, ESTABLISHED: 1, TIME_WAIT: 1 }, listenRxQueue: 3 });
  assert.deepEqual(scanPortStates(V6, 0x1f90), { states: { LISTEN: 1, SYN_RECV: 1 }, listenRxQueue: 7 });
  assert.deepEqual(scanPortStates(V4, 80).states, { ESTABLISHED: 1 });
  for (const text of [V4, V6]) assert.deepEqual(scanPortStates(text, undefined).states, countSocketStates(parseProcNetTcp(text)), 'no port: every socket');
});

test('readPortStates agrees with the full parse on this machine\'s live tables', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 50, r));
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  for (let i = 0; i < 20; i++) clients.push(connect(port, '127.0.0.1'));
  await Promise.all(clients.map((c) => new Promise((r) => c.once('connect', r))));
  try {
    // one read of each table for both parsers: /proc/net/tcp is not an atomic snapshot, and other
    // processes' sockets come and go between two reads
    const v4 = readFileSync('/proc/net/tcp', 'utf8');
    const v6 = readFileSync('/proc/net/tcp6', 'utf8');
    const sockets = [...parseProcNetTcp(v4), ...parseProcNetTcp(v6)];
    const fast = scanPortStates(v6, port, scanPortStates(v4, port));
    assert.deepEqual(fast.states, countSocketStates(sockets, { port }));
    // at least both ends of our 20 connections: the count is by port number, and on a busy machine
    // another socket may use the same number on another address (a port-0 listener takes its port
    // from the same range as other processes' client ports)
    assert.ok((fast.states.ESTABLISHED ?? 0) >= 40, `both ends of 20 loopback connections, saw ${fast.states.ESTABLISHED}`);
    const listener = sockets.find((s) => s.state === 'LISTEN' && s.localPort === port)!;
    assert.equal(fast.listenRxQueue, listener.rxQueue);
    assert.ok((readPortStates(port).states.ESTABLISHED ?? 0) >= 40);
  } finally {
    for (const c of clients) c.destroy();
    server.close();
  }
});
