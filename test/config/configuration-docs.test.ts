import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SERVER_SETTINGS } from '../../src/config/server-settings.js';
import { envName, flagName } from '../../src/config/setting.js';

test('docs/configuration.md lists every serve setting with its flag and env name', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const missing = SERVER_SETTINGS.filter(
    (s) => !doc.includes(`| \`${s.key}\` | \`${flagName(s.key)}\` | \`${envName(s.key)}\` |`),
  ).map((s) => s.key);
  assert.deepEqual(missing, [], 'run `npm run build && node scripts/gen-config-docs.mjs`');
});
