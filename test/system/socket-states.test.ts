import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { createServer, connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { countSocketStates, listenerFamilies, parseProcNetTcp, parseSsRows, readListeningHead, readListenQueue, readPortStates, readPortStatesDiag, scanPortStates, tcpSocketsInNetns } from '../../src/system/socket-states.js';

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

test('parseSsRows counts `ss -tanH` rows under the kernel\'s state names and reads the listener\'s queue and backlog', () => {
  const rows = [
    'LISTEN     3      511        127.0.0.1:8080        0.0.0.0:*',
    'LISTEN     9      511        127.0.0.1:18080       0.0.0.0:*',
    'ESTAB      0      0          127.0.0.1:8080      127.0.0.2:40001',
    'ESTAB      0      0          127.0.0.2:40001     127.0.0.1:8080',
    'TIME-WAIT  0      0          127.0.0.2:40002     127.0.0.1:8080',
    'SYN-SENT   0      1          127.0.0.2:40003     127.0.0.1:8080',
    'SYN-RECV   0      0          [::ffff:127.0.0.1]:8080 [::ffff:127.0.0.2]:40004',
    'FIN-WAIT-2 0      0          127.0.0.2:40005     127.0.0.1:8080',
    '',
  ].join('\n');
  assert.deepEqual(parseSsRows(rows, 8080), {
    states: { LISTEN: 2, ESTABLISHED: 2, TIME_WAIT: 1, SYN_SENT: 1, SYN_RECV: 1, FIN_WAIT2: 1 },
    listenRxQueue: 3,
    listenBacklog: 511,
  });
});

test('the listening rows come first: readListeningHead stops at the first other row, and the queue read from it matches a full read', async () => {
  const server = createServer();
  // a listener that never accepts: its accept queue fills with the connections below
  server.on('connection', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 50, r));
  const port = (server.address() as { port: number }).port;
  server.pause?.();
  const clients: Socket[] = [];
  for (let i = 0; i < 5; i++) clients.push(connect(port, '127.0.0.1'));
  await Promise.all(clients.map((c) => new Promise((r) => c.once('connect', r))));
  try {
    const head = readListeningHead('/proc/net/tcp');
    const rows = head.split('\n').slice(1).filter((l) => l.trim() !== '');
    assert.ok(rows.length > 0, 'at least this test\'s listener');
    for (const r of rows) assert.match(r, /^\s*\d+: \S+ \S+ 0A /, `only listening rows: ${r}`);
    const full = readFileSync('/proc/net/tcp', 'utf8');
    const listening = full.split('\n').filter((l) => /^\s*\d+: \S+ \S+ 0A /.test(l)).length;
    assert.equal(rows.length, listening, 'every listening row of the full table');
    assert.deepEqual(listenerFamilies(port), ['tcp']);
    assert.equal(readListenQueue(port, ['tcp']), readPortStates(port).listenRxQueue);
  } finally {
    for (const c of clients) c.destroy();
    server.close();
  }
});

const hasSs = spawnSync('ss', ['-V']).status === 0;
test('sock_diag (ss) and /proc count the same sockets of a port', { skip: hasSs ? false : 'ss (iproute2) not installed' }, async () => {
  const server = createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 50, r));
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  for (let i = 0; i < 15; i++) clients.push(connect(port, '127.0.0.1'));
  await Promise.all(clients.map((c) => new Promise((r) => c.once('connect', r))));
  try {
    // another program's socket may use this port number as its own ephemeral port and come or go
    // between two reads (a shared host): read both again until they agree, a few times at most
    let diag = readPortStatesDiag(port);
    let proc = readPortStates(port);
    for (let i = 0; i < 5 && !isDeepStrictEqual(diag?.counts.states, proc.states); i++) {
      diag = readPortStatesDiag(port);
      proc = readPortStates(port);
    }
    assert.ok(diag, 'ss ran');
    assert.deepEqual(diag.counts.states, proc.states);
    assert.equal(diag.counts.states.LISTEN, 1);
    assert.ok((diag.counts.states.ESTABLISHED ?? 0) >= 30, 'both ends of 15 loopback connections');
    assert.ok(diag.cpuMs >= 0);
    assert.ok(tcpSocketsInNetns()! >= 31, 'the namespace holds at least these sockets');
  } finally {
    for (const c of clients) c.destroy();
    server.close();
  }
});

test('with an address, only sockets with that address and the port at one end count: another server on the same port number of another address is left out', async () => {
  const a = createServer();
  await new Promise<void>((r) => a.listen(0, '127.0.0.1', 50, r));
  const port = (a.address() as { port: number }).port;
  // the same port number on another loopback address: what a busy host's other programs can hold
  const b = createServer();
  await new Promise<void>((r, j) => { b.once('error', j); b.listen(port, '127.0.0.2', 50, r); });
  const clients: Socket[] = [];
  for (let i = 0; i < 6; i++) clients.push(connect(port, '127.0.0.1'));
  for (let i = 0; i < 4; i++) clients.push(connect(port, '127.0.0.2'));
  await Promise.all(clients.map((c) => new Promise((r) => c.once('connect', r))));
  try {
    assert.ok((readPortStates(port).states.ESTABLISHED ?? 0) >= 20, 'by port alone: both servers\' connections, both ends');
    const own = readPortStates(port, undefined, '127.0.0.1');
    assert.equal(own.states.ESTABLISHED, 12, 'both ends of the 6 connections to 127.0.0.1 only');
    assert.equal(own.states.LISTEN, 2, 'listeners on the port count whatever address they are bound to');
    assert.equal(readPortStates(port, undefined, '::ffff:127.0.0.2').states.ESTABLISHED, undefined, 'an IPv4-mapped IPv6 target matches IPv6 rows only');
    const diag = readPortStatesDiag(port, '127.0.0.1');
    if (diag) assert.equal(diag.counts.states.ESTABLISHED, 12, 'sock_diag (ss) filters the same way');
    assert.equal(parseSsRows('ESTAB 0 0 [::ffff:127.0.0.1]:80 [::ffff:127.0.0.3]:5000\nESTAB 0 0 127.0.0.3:5001 127.0.0.2:80\n', 80, undefined, '127.0.0.1').states.ESTABLISHED, 1);
  } finally {
    for (const c of clients) c.destroy();
    a.close();
    b.close();
  }
});
