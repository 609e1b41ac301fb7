// The `namespaces` setting: checked at startup like every other one, each bad field named
// `namespaces.<prefix>.<field>` with the accepted range, from a YAML or JSON file, a flag or env.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings, type ResolveInput } from '../../src/config/resolve.js';
import { SERVER_SETTINGS, type ServerSettings } from '../../src/config/server-settings.js';
import { FloodgateError } from '../../src/errors.js';

const resolve = (input: ResolveInput) => resolveSettings<ServerSettings>(SERVER_SETTINGS, { env: {}, ...input });

function problems(input: ResolveInput): string[] {
  try {
    resolve(input);
  } catch (err) {
    assert.ok(err instanceof FloodgateError);
    assert.equal(err.code, 'FG_ERR_INVALID_CONFIG');
    return (err.details as { problems: string[] }).problems;
  }
  assert.fail('expected FG_ERR_INVALID_CONFIG');
}

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'fg-ns-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a YAML namespaces map resolves with units parsed like the top-level settings', () => {
  withDir((dir) => {
    const file = join(dir, 'ns.yaml');
    writeFileSync(file, [
      'historySize: 500',
      'namespaces:',
      '  "chat:":',
      '    historySize: 50',
      '    historyTtl: 2m',
      '    presence: true',
      '    joinLeave: true',
      '  "prices:":',
      '    historyBytes: 64KB',
      '    clientPublish: false',
      '  "private:":',
      '    requireChannelsClaim: true',
      '    requireClaims: { role: [admin, trader], tier: 2 }',
      '  "empty:":',
      '',
    ].join('\n'));
    const { values, sources } = resolve({ file });
    assert.equal(sources.namespaces, 'file');
    assert.deepEqual(values.namespaces, {
      'chat:': { historySize: 50, historyTtl: 120_000, presence: true, joinLeave: true },
      'prices:': { historyBytes: 64 * 1024, clientPublish: false },
      'private:': { requireChannelsClaim: true, requireClaims: { role: ['admin', 'trader'], tier: [2] } },
      'empty:': {},
    });
    assert.ok(Object.isFrozen(values.namespaces) && Object.isFrozen(values.namespaces['chat:']));
  });
});

test('no namespaces by default; a flag or env variable gives them as JSON', () => {
  assert.deepEqual(resolve({}).values.namespaces, {});
  const env = resolve({ env: { FLOODGATE_NAMESPACES: '{"prices:":{"clientPublish":false}}' } });
  assert.deepEqual([env.values.namespaces, env.sources.namespaces], [{ 'prices:': { clientPublish: false } }, 'env']);
  const flag = resolve({ flags: { namespaces: '{"a:":{"historySize":"7"}}' } });
  assert.deepEqual(flag.values.namespaces, { 'a:': { historySize: 7 } });
  const bad = problems({ flags: { namespaces: '{"a:": ' } });
  assert.equal(bad.length, 1);
  assert.match(bad[0]!, /^Invalid value for `namespaces` \(--namespaces\): expected a map of channel prefix .* to options: historySize, historyBytes, historyTtl, clientPublish, presence, joinLeave, requireChannelsClaim, requireClaims/);
});

test('out-of-range values, unknown fields and bad prefixes are each named with the accepted range, all at once', () => {
  const list = problems({
    file: {
      namespaces: {
        'chat:': { historySize: -1, historyTtl: '721h', histroySize: 5, clientPublish: 'maybe' },
        'prices:': { historyBytes: '2GB', requireClaims: { role: [] } },
        'bad prefix': {},
        '': {},
        'x:': 5,
        'auth:': { requireClaims: { channels: ['a'], exp: 1 } },
        'glob:*': {},
      },
    },
  });
  const where = '(in the config file)';
  const expect = [
    `Invalid value for \`namespaces.chat:.historySize\` ${where}: expected an integer from 0 to 10000000, got \`-1\` (number)`,
    `Invalid value for \`namespaces.chat:.historyTtl\` ${where}: expected a duration (e.g. 500ms, 5s, 2m) from 0 (off) to 720h, got \`721h\``,
    `Invalid value for \`namespaces.chat:.histroySize\` ${where}: unknown field; known fields: historySize, historyBytes, historyTtl, clientPublish, presence, joinLeave, requireChannelsClaim, requireClaims`,
    `Invalid value for \`namespaces.chat:.clientPublish\` ${where}: expected true or false, got \`maybe\``,
    `Invalid value for \`namespaces.prices:.historyBytes\` ${where}: expected a size (e.g. 64KB, 512MB) from 0 B to 1 GiB, got \`2GB\``,
    `Invalid value for \`namespaces.prices:.requireClaims.role\` ${where}: expected a string (1 to 256 characters), number or boolean, or a list of 1 to 100 of them, got \`[]\` (list)`,
    `Invalid value for \`namespaces.bad prefix\` ${where}: a prefix is 1 to 127 characters of A-Z a-z 0-9 _ - : . @ / (the characters of a channel name), got \`bad prefix\``,
    `Invalid value for \`namespaces.\` ${where}: a prefix is 1 to 127 characters of A-Z a-z 0-9 _ - : . @ / (the characters of a channel name), got \`\``,
    `Invalid value for \`namespaces.x:\` ${where}: expected a map of options (historySize, historyBytes, historyTtl, clientPublish, presence, joinLeave, requireChannelsClaim, requireClaims), got \`5\` (number)`,
    `Invalid value for \`namespaces.auth:.requireClaims.channels\` ${where}: not accepted here: use \`requireChannelsClaim: true\` to require the \`channels\` claim`,
    `Invalid value for \`namespaces.auth:.requireClaims.exp\` ${where}: not accepted here: the verifier checks \`exp\` on every token`,
    `Invalid value for \`namespaces.glob:*\` ${where}: a prefix matches every channel that starts with it: write \`glob:\`, without the \`*\``,
  ];
  assert.deepEqual(list, expect);
});

test('a prefix written twice is an error in YAML and in JSON (JSON.parse would keep the last silently)', () => {
  withDir((dir) => {
    const yaml = join(dir, 'twice.yaml');
    writeFileSync(yaml, 'namespaces:\n  "chat:": { historySize: 1 }\n  "chat:": { historySize: 2 }\n');
    assert.throws(() => resolve({ file: yaml }), (e: FloodgateError) => e.code === 'FG_ERR_CONFIG_FILE' && /Map keys must be unique/.test(e.message));
    const json = join(dir, 'twice.json');
    writeFileSync(json, '{"namespaces": {"chat:": {"historySize": 1}, "chat:": {"historySize": 2}}}');
    assert.throws(
      () => resolve({ file: json }),
      (e: FloodgateError) => e.code === 'FG_ERR_CONFIG_FILE' && /a key appears twice in one object \(Map keys must be unique at line 1/.test(e.message),
    );
    // the same keys in two different objects are fine
    writeFileSync(json, '{"namespaces": {"a:": {"historySize": 1}, "b:": {"historySize": 2}}, "historySize": 3}');
    assert.deepEqual(resolve({ file: json }).values.namespaces, { 'a:': { historySize: 1 }, 'b:': { historySize: 2 } });
  });
});

test('an API option passes the map as an object; more than 1000 namespaces are refused', () => {
  assert.deepEqual(resolve({ options: { namespaces: { 'x:': { historySize: 0 } } } }).values.namespaces, { 'x:': { historySize: 0 } });
  const many = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`n${i}:`, {}]));
  assert.deepEqual(problems({ options: { namespaces: many } }), ['Invalid value for `namespaces` (option): at most 1000 namespaces, got 1001']);
  assert.match(problems({ options: { namespaces: [] } })[0]!, /^Invalid value for option `namespaces`: expected a map of channel prefix/);
});

test('floodgate serve stops with exit code 2 and the field named: a bad namespace in the file, claim rules without token checks', () => {
  const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
  withDir((dir) => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'namespaces:\n  "chat:":\n    historySize: 20000000\n');
    const bad = spawnSync(process.execPath, [cli, 'serve', '--port', '0', '--config', file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /FG_ERR_INVALID_CONFIG: Invalid value for `namespaces\.chat:\.historySize` \(in the config file\): expected an integer from 0 to 10000000, got `20000000` \(number\)/);
    const claims = spawnSync(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--namespaces', '{"desk:":{"requireClaims":{"role":"admin"}}}'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(claims.status, 2, claims.stderr);
    assert.match(claims.stderr, /Invalid value for `namespaces\.desk:\.requireClaims`: token claims are only known when the gateway checks tokens/);
  });
});
