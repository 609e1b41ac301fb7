// `serve --config` takes JSON, or YAML when the name ends in .yaml/.yml; the example file in the
// repository is valid and says what it claims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveSettings } from '../../src/config/resolve.js';
import { SERVER_SETTINGS, type ServerSettings } from '../../src/config/server-settings.js';
import type { FloodgateError } from '../../src/errors.js';

const example = fileURLToPath(new URL('../../floodgate.example.yaml', import.meta.url));
const resolve = (file: string) => resolveSettings<ServerSettings>(SERVER_SETTINGS, { file, env: {} });

test('floodgate.example.yaml resolves: every key it sets is a setting, with its value', () => {
  const { values, sources } = resolve(example);
  assert.equal(values.port, 8080);
  assert.equal(values.host, '::');
  assert.equal(values.historyTtl, 300_000);
  assert.equal(values.historyBytes, 1024 * 1024);
  assert.equal(values.maxPayload, 16 * 1024);
  assert.equal(values.admissionTimeout, 5000);
  assert.equal(values.broker, 'memory');
  assert.deepEqual(values.allowedOrigins, []);
  assert.equal(sources.port, 'file');
  assert.equal(sources.shutdownTimeout, 'file');
  assert.deepEqual(values.namespaces, {
    'chat:': { historySize: 200, historyTtl: 3_600_000 },
    'prices:': { clientPublish: false, historySize: 10, historyTtl: 30_000 },
    'typing:': { historySize: 0 },
  });
});

test('YAML and JSON config files give the same settings; a bad file names the format', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-config-'));
  try {
    writeFileSync(join(dir, 'a.yml'), 'port: 9001\nhistoryTtl: 2m\nallowedOrigins: [https://a.example]\n');
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ port: 9001, historyTtl: '2m', allowedOrigins: ['https://a.example'] }));
    const y = resolve(join(dir, 'a.yml')).values;
    const j = resolve(join(dir, 'a.json')).values;
    assert.deepEqual([y.port, y.historyTtl, y.allowedOrigins], [9001, 120_000, ['https://a.example']]);
    assert.deepEqual(y, j);
    writeFileSync(join(dir, 'list.yaml'), '- port: 1\n');
    assert.throws(() => resolve(join(dir, 'list.yaml')), (e: FloodgateError) => e.code === 'FG_ERR_CONFIG_FILE' && /is not a YAML mapping: top level must be an object/.test(e.message));
    writeFileSync(join(dir, 'bad.yaml'), 'port: [1\n');
    assert.throws(() => resolve(join(dir, 'bad.yaml')), (e: FloodgateError) => e.code === 'FG_ERR_CONFIG_FILE' && /bad\.yaml is not a YAML mapping/.test(e.message));
    writeFileSync(join(dir, 'typo.yaml'), 'prot: 1\n');
    assert.throws(() => resolve(join(dir, 'typo.yaml')), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /Unknown setting `prot` in config file/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a config file or map nested absurdly deep is FG_ERR_CONFIG_FILE / FG_ERR_INVALID_CONFIG naming the depth, not a stack overflow or an out-of-memory abort', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-config-'));
  const n = 200_000;
  const deep = `${'['.repeat(n)}${']'.repeat(n)}`;
  try {
    const cases: [string, string][] = [
      ['value.json', `{"maxPayload":${deep}}`], // JSON.stringify of it in the error message overflowed the stack
      ['ns.json', `{"namespaces":{"a:":{"historySize":${deep}}}}`], // the duplicate-key scan aborted the process (V8 out of memory)
      ['value.yaml', `maxPayload: ${deep}\n`],
    ];
    for (const [name, text] of cases) {
      writeFileSync(join(dir, name), text);
      assert.throws(() => resolve(join(dir, name)), (e: FloodgateError) => e.code === 'FG_ERR_CONFIG_FILE' && /nests deeper than 64 levels/.test(e.message), name);
    }
    assert.throws(
      () => resolveSettings<ServerSettings>(SERVER_SETTINGS, { env: { FLOODGATE_NAMESPACES: `{"a:":{"historySize":${deep}}}` } }),
      (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /`namespaces`.*64 levels/.test(e.message),
    );
    // a number YAML or JSON reads as Infinity is shown as such, not as `null` (number)
    writeFileSync(join(dir, 'inf.yaml'), 'port: .inf\nhistorySize: 1e400\n');
    assert.throws(() => resolve(join(dir, 'inf.yaml')), (e: FloodgateError) => /`port`.*got `Infinity` \(number\)/.test(e.message) && /`historySize`.*got `Infinity` \(number\)/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
