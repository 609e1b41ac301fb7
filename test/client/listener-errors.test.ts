// What a listener that throws does (docs/client.md, Events): the client stays intact and the
// exception is rethrown outside the SDK, so an app without an uncaughtException handler ends
// exactly as with any other uncaught exception, and an app with one keeps receiving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnGroup } from '../helpers/spawn-group.js';

const fixture = fileURLToPath(new URL('../fixtures/client/throwing-listener.ts', import.meta.url));

async function run(mode: 'crash' | 'handled') {
  const p = spawnGroup(process.execPath, ['--import', 'tsx', fixture, mode], { name: `throwing listener (${mode})` });
  const timer = setTimeout(() => p.signal('SIGKILL'), 90_000); // a ceiling for a busy machine
  const exit = await p.exited;
  clearTimeout(timer);
  return { exit, stdout: p.stdout, stderr: p.stderr };
}

test('a throwing listener ends a Node app that has no uncaughtException handler, with the error printed', async () => {
  const r = await run('crash');
  assert.equal(r.exit.code, 1, r.stderr);
  assert.match(r.stderr, /Error: boom from the listener/);
  assert.equal(r.stdout, '', 'it ended before the second message');
});

test('with an uncaughtException handler the client carries on: other listeners ran, the next message arrives', async () => {
  const r = await run('handled');
  assert.equal(r.exit.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { delivered: [1, 2], caught: ['boom from the listener'], otherListener: 2, state: 'connected' });
});
