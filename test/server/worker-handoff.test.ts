import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { HandoffRelay, isHandoffMessage, WorkerHandoff, type HandoffMessage } from '../../src/server/worker-handoff.js';

/** `p`, or a rejection after a generous ceiling: a test never hangs. */
function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

test('the primary relays a handed-off socket to the next worker not yet tried, round-robin, and closes it when none is left', () => {
  const sent: { to: number; m: HandoffMessage }[] = [];
  let closed = 0;
  const handle = { close: () => void closed++ };
  const targets = [0, 1, 2].map((index) => ({ index, connected: index !== 2, send: (m: HandoffMessage) => void sent.push({ to: index, m }) }));
  const relay = new HandoffRelay(() => targets);
  assert.equal(relay.relay({ fg: 'handoff', t: 'give', tried: [0] }, handle), 1, 'worker 2 is not connected; 0 was full');
  assert.equal(relay.relay({ fg: 'handoff', t: 'give', tried: [1] }, handle), 0);
  assert.deepEqual(sent.map((s) => [s.to, s.m.t, s.m.tried]), [[1, 'take', [0]], [0, 'take', [1]]]);
  assert.equal(relay.relay({ fg: 'handoff', t: 'give', tried: [0, 1] }, handle), undefined);
  assert.equal(closed, 1, 'nowhere to go: the primary closes its copy');
  assert.equal(isHandoffMessage({ fg: 'handoff', t: 'take', tried: [] }), true);
  assert.equal(isHandoffMessage({ fg: 'worker', t: 'ready' }), false);
});

test('a worker hands off only while some worker is untried; the handed socket keeps its unread bytes for the adopter', async () => {
  const server = createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect(port, '127.0.0.1');
  try {
    client.write('GET / HTTP/1.1\r\n\r\n');
    const socket = await within(accepted, 'the connection');
    let given: { m: HandoffMessage; handle: unknown } | undefined;
    const last = new WorkerHandoff(1, 2, () => assert.fail('the last untried worker keeps it'), () => true);
    assert.equal(last.give(socket, [0]), false);
    assert.equal(socket.destroyed, false);
    // in one process the "send" just keeps the handle, as the IPC channel would carry it
    const first = new WorkerHandoff(0, 2, (m, handle) => void (given = { m, handle }), () => true);
    assert.equal(first.give(socket, []), true);
    assert.deepEqual(given?.m, { fg: 'handoff', t: 'give', tried: [0] });
    assert.equal(socket.destroyed, true, 'the giving worker forgets the socket…');
    const adopted = WorkerHandoff.adopt(given!.handle);
    assert.equal(adopted.readableFlowing, false, 'adopted paused, as the listener accepts (pauseOnConnect)');
    const data = await within(new Promise<string>((r) => {
      adopted.once('data', (b: Buffer) => r(b.toString()));
      adopted.resume();
    }), 'the request bytes on the adopted socket');
    assert.equal(data, 'GET / HTTP/1.1\r\n\r\n', '…without closing the connection or reading its bytes');
    adopted.end('HTTP/1.1 204 No Content\r\n\r\n');
    const answer = await within(new Promise<string>((r) => client.once('data', (b: Buffer) => r(b.toString()))), 'the answer');
    assert.match(answer, /^HTTP\/1.1 204/);
    adopted.destroy();
  } finally {
    client.destroy();
    server.close();
  }
});
