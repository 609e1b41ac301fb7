import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { createGateway } from '../../src/server/gateway.js';
import { createToken } from '../../src/auth/create-token.js';
import { openPeer, type Peer } from '../helpers/ws-peer.js';

/** Every `curl` example of docs/api.md with the answer printed below it. */
function examples(): { command: string; answer: string }[] {
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const out: { command: string; answer: string }[] = [];
  for (const m of doc.matchAll(/```sh\n(curl[\s\S]*?)```\n```json\n([\s\S]*?)```/g)) out.push({ command: m[1], answer: m[2] });
  return out;
}

/** Epochs are random: the doc shows "…". */
function masked(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (k, v) => (k === 'epoch' ? '…' : v)));
}

test('docs/api.md: every curl example, run in order with real curl, answers what the page shows', { timeout: 240_000 }, async () => {
  const list = examples();
  assert.ok(list.length >= 6, `found ${list.length} examples`);
  const secret = 'docs-secret';
  const g = await createGateway({ host: '127.0.0.1', port: 0, adminPort: 0, apiKey: 'docs-key', authSecret: secret, presence: true, logLevel: 'silent' });
  const peers: Peer[] = [];
  try {
    const token = (sub: string) => createToken(secret, { sub, exp: Math.floor(Date.now() / 1000) + 60 });
    const user = await openPeer(`ws://127.0.0.1:${g.port}/?token=${token('user-42')}`);
    const trader = await openPeer(`ws://127.0.0.1:${g.port}/?token=${token('trader-7')}`);
    peers.push(user, trader);
    trader.send({ type: 'subscribe', id: 1, channel: 'prices:eurusd' });
    await trader.next((f) => f.type === 'subscribed');
    const env = { ...process.env, ADMIN: `http://127.0.0.1:${g.admin.address!.port}`, KEY: 'docs-key' };
    for (const { command, answer } of list) {
      // async: the gateway answering curl runs in this process
      // -w appends the status, so an empty answer is told apart from a missing one
      const { stdout } = await promisify(execFile)('bash', ['-c', `${command.trim()} -w '\\n%{http_code}'`], { env, encoding: 'utf8', timeout: 30_000 });
      const nl = stdout.lastIndexOf('\n');
      const [got, status] = [stdout.slice(0, nl), stdout.slice(nl + 1)];
      assert.notEqual(got, '', `${command}: empty answer, HTTP status ${status}`);
      assert.deepEqual(masked(JSON.parse(got)), JSON.parse(answer), command);
    }
    assert.equal(await user.closed, 4003, 'the disconnect example closed user-42');
    assert.equal((await trader.count((f) => f.type === 'message', 2)).length, 2);
  } finally {
    for (const p of peers) p.close();
    await g.close(1000);
  }
});
