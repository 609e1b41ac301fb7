import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { listeningPortsOf, parseSsListeners, readListeners } from '../../src/system/listeners.js';

test('parses ss -ltn: Recv-Q is the accept queue, Send-Q the effective backlog', () => {
  const text = [
    'State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess',
    'LISTEN 0      4096       127.0.0.1:41545      0.0.0.0:*',
    'LISTEN 129    128             [::]:8080          [::]:*',
    'LISTEN 0      511    [::ffff:127.0.0.1]:9000        *:*',
    'LISTEN 0      4096   0.0.0.0%lo:53      0.0.0.0:*',
  ].join('\n');
  assert.deepEqual(parseSsListeners(text), [
    { address: '127.0.0.1', port: 41545, acceptQueue: 0, backlog: 4096 },
    { address: '::', port: 8080, acceptQueue: 129, backlog: 128 },
    { address: '::ffff:127.0.0.1', port: 9000, acceptQueue: 0, backlog: 511 },
    { address: '0.0.0.0%lo', port: 53, acceptQueue: 0, backlog: 4096 },
  ]);
});

test('a real listener: ss shows the backlog asked for, and the pid → port mapping finds it', async () => {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0, backlog: 37 }, r));
  const port = (server.address() as { port: number }).port;
  try {
    const l = readListeners()?.find((x) => x.port === port);
    assert.ok(l, 'ss lists the listener');
    assert.equal(l.backlog, 37);
    assert.ok(listeningPortsOf(process.pid).includes(port));
  } finally {
    await new Promise((r) => server.close(r));
  }
});
