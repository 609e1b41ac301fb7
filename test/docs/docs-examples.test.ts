// Every code block of README.md and docs/client.md that claims to run is run here, as a user
// would: js/ts blocks as ES modules inside the package (so `import … from 'floodgate'` resolves
// to the built package, like an installed one), against a real gateway; the shell blocks as
// commands. The only change made to a block is the port: 8080 becomes the test gateway's port
// (or 0 for a block that starts its own gateway), because the machine is shared.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGateway } from '../../src/server/gateway.js';
import { spawnGroup, type GroupProcess } from '../helpers/spawn-group.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = join(root, 'test-artifacts', 'docs-examples');

interface Block {
  doc: string;
  lang: string;
  code: string;
}

function blocks(doc: string): Block[] {
  const text = readFileSync(join(root, doc), 'utf8');
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ doc, lang: m[1], code: m[2] }));
}

const all = [...blocks('README.md'), ...blocks('docs/client.md')];
const runnable = all.filter((b) => ['js', 'mjs', 'ts'].includes(b.lang));

/** What each runnable block must print, keyed by a line that identifies it. */
const expectations: { key: string; ownGateway?: boolean; stdout: RegExp[] }[] = [
  {
    key: "import { createGateway } from 'floodgate';",
    ownGateway: true,
    stdout: [/^10000 \(explicit\): memory \(.*\) \/ 8 KiB per connection = \d+; fds \d+ − 64 reserved = \d+, explicit 10000$/m, /current: 0,\s+peak: 0,\s+cap: 10000,\s+capOrigin: 'explicit'/],
  },
  {
    key: "import WebSocket from 'ws';",
    stdout: [/type: 'welcome'/, /type: 'subscribed'/, /type: 'message',\s+channel: 'prices',\s+epoch: '[^']+',\s+offset: 1,\s+data: \{ px: 10\.5 \}/],
  },
  {
    key: "const reload = (channel) => console.log('reload', channel, 'from the source of truth');",
    stdout: [/^\{ epoch: '[^']+', offset: 1 \}$/m],
  },
  {
    key: "room.on('join', (e) => console.log('join', e.sub));",
    ownGateway: true,
    stdout: [/channel: 'chat:room-1',\s+connections: 1,\s+users: 1,\s+anonymous: 0,\s+subs: \[ \{ sub: 'alice', connections: 1 \} \],\s+truncated: false/, /^join bob\n2 users on 2 connections: alice, bob\nleave bob$/m],
  },
  {
    key: 'const reloadFromDatabase = (channel, reason)',
    stdout: [/^disconnected → connecting$/m, /^connecting → connected$/m, /^published at offset 1 of epoch \S+$/m, /^connected → closed$/m],
  },
];

async function runModule(name: string, code: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  mkdirSync(scratch, { recursive: true });
  const file = join(scratch, `${name}.mts`);
  writeFileSync(file, code);
  const p = spawnGroup(process.execPath, ['--import', 'tsx', file], { cwd: root, name });
  const timer = setTimeout(() => p.signal('SIGKILL'), 60_000); // a ceiling for a busy machine
  const exit = await p.exited;
  clearTimeout(timer);
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr };
}

test('every runnable js/ts block has an expectation here, and each expectation has its block', () => {
  assert.equal(runnable.length, expectations.length, runnable.map((b) => `${b.doc}: ${b.code.split('\n')[0]}`).join('\n'));
  for (const b of runnable) assert.equal(expectations.filter((e) => b.code.includes(e.key)).length, 1, `${b.doc}: block starting ${b.code.split('\n')[0]}`);
});

for (const [i, e] of expectations.entries()) {
  const block = runnable.find((b) => b.code.includes(e.key));
  test(`${block?.doc ?? '?'} example ${i + 1} runs as written: ${e.key}`, async () => {
    assert.ok(block, `no block contains ${e.key}`);
    const g = e.ownGateway ? undefined : await createGateway({ host: '::', port: 0, logLevel: 'silent' });
    try {
      const code = block.code.replaceAll('8080', String(g?.port ?? 0));
      const r = await runModule(`example-${i + 1}`, code);
      assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      for (const re of e.stdout) assert.match(r.stdout, re);
      assert.doesNotMatch(r.stderr, /Error|"level":[56]0/, 'no error on stderr (the gateway logs there)');
    } finally {
      await g?.close(1000);
    }
  });
}

// npx keeps the package it runs in a cache folder named after the checkout's path; a run killed while
// npx was filling it leaves a folder every later npx in the same checkout trips over. Each run of
// this file gets a cache of its own, as a newcomer's first `npx floodgate` does.
const npxCache = mkdtempSync(join(tmpdir(), 'fg-npx-cache-'));
after(() => rmSync(npxCache, { recursive: true, force: true }));
const npxEnv = { ...process.env, npm_config_cache: npxCache };

/** Both output pipes closed, i.e. every process of the group that held them has exited (with a ceiling). */
function streamsClosed(p: GroupProcess, ceilingMs: number): Promise<void> {
  const closed = [p.child.stdout, p.child.stderr].map((s) =>
    new Promise<void>((resolve) => (!s || s.closed ? resolve() : s.once('close', () => resolve()))));
  let timer: NodeJS.Timeout | undefined;
  const ceiling = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${p.name}: output still open ${ceilingMs} ms after exit\n${p.tail()}`)), ceilingMs);
  });
  return Promise.race([Promise.all(closed).then(() => undefined), ceiling]).finally(() => clearTimeout(timer));
}

test('README quick start: the two commands are `npm install && npx floodgate serve` and `npm test`, and `npx floodgate serve` runs', async () => {
  const sh = all.filter((b) => b.doc === 'README.md' && b.lang === 'sh');
  assert.equal(sh.length, 1);
  const commands = sh[0].code.split('\n').filter(Boolean).map((l) => l.replace(/\s+#.*$/, ''));
  assert.deepEqual(commands, ['npm install && npx floodgate serve', 'npm test']);
  assert.equal(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.test, 'node scripts/run-tests.mjs');
  // `npm install` is what this checkout already did; `npx floodgate serve` must find the bin and serve
  const p = spawnGroup('npx', ['--no-install', 'floodgate', 'serve'], {
    cwd: root,
    env: { ...npxEnv, FLOODGATE_PORT: '0', FLOODGATE_HOST: '127.0.0.1', FLOODGATE_LOG_FORMAT: 'json' },
    name: 'npx floodgate serve',
  });
  try {
    await p.waitFor(/"event":"listening"/, 60_000);
    p.signal('SIGTERM'); // the group: npx and the gateway it started, as Ctrl-C would
    // npx's own exit can come before the gateway's last lines reach the pipe (the gateway is a
    // grandchild, still closing on a loaded machine): wait until every writer of the pipes is gone
    await p.exited;
    await streamsClosed(p, 60_000);
    assert.match(p.stdout + p.stderr, /"msg":"gateway stopped"/, p.tail());
  } finally {
    await p.stop('SIGKILL');
  }
});

test('README CLI section: every line is `npx floodgate <command>` with a command the CLI has', async () => {
  const cli = all.find((b) => b.doc === 'README.md' && b.lang === '' && b.code.includes('floodgate serve [options]'));
  assert.ok(cli);
  const lines = cli.code.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(' '));
  assert.ok(lines.length >= 10);
  for (const l of lines) assert.match(l, /^npx floodgate /, 'floodgate is not on PATH after npm install; the README says npx floodgate');
  const help = spawnGroup('npx', ['--no-install', 'floodgate', '--help'], { cwd: root, env: npxEnv, name: 'npx floodgate --help' });
  await help.exited;
  assert.equal(help.exitCode, 0, help.tail());
  const commands = new Set([...help.stdout.matchAll(/^\s{2}(\w+)\b/gm)].map((m) => m[1]));
  for (const l of lines) {
    const word = l.split(' ')[2];
    if (word.startsWith('-')) continue; // npx floodgate --help
    assert.ok(commands.has(word), `${word} (from: ${l}) is not a command of floodgate --help:\n${help.stdout}`);
  }
});
