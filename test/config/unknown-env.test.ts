import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { SERVER_SETTINGS } from '../../src/config/server-settings.js';
import { unknownEnvWarnings } from '../../src/config/unknown-env.js';
import { spawnGroup } from '../helpers/spawn-group.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('FLOODGATE_* variables that name no setting are named, with the closest setting; settings, internal markers and other variables are not', () => {
  const w = unknownEnvWarnings({
    FLOODGATE_PROT: '8080',
    FLOODGATE_MAX_CONECTIONS: '10',
    FLOODGATE_SOMETHING_ELSE_ENTIRELY: 'x',
    FLOODGATE_PORT: '8080',
    FLOODGATE_WORKER_PLAN: '{}',
    FLOODGATE_TEST_RUN: 'a:b',
    PATH: '/bin',
  }, SERVER_SETTINGS);
  assert.deepEqual(w, [
    'environment variable FLOODGATE_MAX_CONECTIONS is not a setting and is ignored (did you mean FLOODGATE_MAX_CONNECTIONS?)',
    'environment variable FLOODGATE_PROT is not a setting and is ignored (did you mean FLOODGATE_PORT?)',
    'environment variable FLOODGATE_SOMETHING_ELSE_ENTIRELY is not a setting and is ignored',
  ]);
  assert.deepEqual(unknownEnvWarnings({ FLOODGATE_HOST: '::1', HOME: '/root' }, SERVER_SETTINGS), []);
});

test('`floodgate serve` puts the ignored variable in its startup warnings', { timeout: 120_000 }, async () => {
  const p = spawnGroup(process.execPath, ['dist/cli/main.js', 'serve', '--port', '0', '--host', '127.0.0.1', '--log-format', 'json'], {
    cwd: root,
    env: { ...process.env, FLOODGATE_PROT: '8080' },
    name: 'serve',
  });
  try {
    await p.waitFor(/"event":"listening"/, 60_000);
    const report = JSON.parse(p.stdout.split('\n').find((l) => l.includes('"event":"listening"'))!);
    assert.ok(report.warnings.includes('environment variable FLOODGATE_PROT is not a setting and is ignored (did you mean FLOODGATE_PORT?)'), p.tail());
  } finally {
    await p.stop('SIGKILL');
  }
});
