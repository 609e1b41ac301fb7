import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings } from '../../src/config/resolve.js';
import { SERVER_SETTINGS, type ServerSettings } from '../../src/config/server-settings.js';
import { FloodgateError } from '../../src/errors.js';
import { stopGroup, trackGroup } from '../helpers/spawn-group.js';

const resolve = (input: Parameters<typeof resolveSettings>[1]) => resolveSettings<ServerSettings>(SERVER_SETTINGS, input);

function problem(input: Parameters<typeof resolveSettings>[1]): string {
  try {
    resolve(input);
  } catch (err) {
    assert.ok(err instanceof FloodgateError);
    assert.equal(err.code, 'FG_ERR_INVALID_CONFIG');
    return err.message;
  }
  assert.fail('expected FG_ERR_INVALID_CONFIG');
}

test('flags > env > file > defaults, with units parsed once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-config-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ port: 9000, backlog: 1024, idleTimeout: '2m', historyBytes: '2MB' }));
  const r = resolve({ file, env: { FLOODGATE_BACKLOG: '2048', FLOODGATE_ADMISSION_TIMEOUT: '250ms' }, flags: { backlog: '4096' } });
  assert.equal(r.values.port, 9000);
  assert.equal(r.values.backlog, 4096);
  assert.equal(r.sources.backlog, 'flag');
  assert.equal(r.values.admissionTimeout, 250);
  assert.equal(r.sources.admissionTimeout, 'env');
  assert.equal(r.values.idleTimeout, 120_000);
  assert.equal(r.values.historyBytes, 2 * 1024 * 1024);
  assert.equal(r.sources.port, 'file');
  assert.equal(r.values.rateBurst, 100);
  assert.equal(r.sources.rateBurst, 'default');
  assert.ok(Object.isFrozen(r.values));
});

test('each bad value names the setting, its source, the value and the accepted range', () => {
  assert.equal(
    problem({ flags: { backlog: '-1' } }),
    'Invalid value for `backlog` (--backlog): expected an integer from 0 to 2147483647 or `max`, got `-1`',
  );
  assert.match(problem({ env: { FLOODGATE_PORT: '70000' } }), /`port` \(FLOODGATE_PORT\): expected an integer from 0 to 65535, got `70000`/);
  assert.match(problem({ file: { idleTimeout: 'soon' } }), /`idleTimeout` \("idleTimeout" in the config file\): expected a duration .* from 1s to 24h, got `soon`/);
  assert.match(problem({ flags: { maxPayload: '10' } }), /`maxPayload`.*from 64 B to 64 MiB, got `10`/);
  assert.match(problem({ flags: { compression: 'maybe' } }), /`compression`.*true or false/);
  assert.match(problem({ flags: { logFormat: 'xml' } }), /`logFormat`.*one of `pretty`, `json`/);
  assert.match(problem({ env: { FLOODGATE_YOUNG_GENERATION: 'tiny' } }), /`youngGeneration`.*one of `grow`, `small`.*`tiny`/);
  assert.equal(resolve({ flags: { youngGeneration: 'small' } }).values.youngGeneration, 'small');
  assert.equal(resolve({}).values.youngGeneration, 'small');
  assert.equal(resolve({ flags: { youngGeneration: 'grow' } }).values.youngGeneration, 'grow');
  assert.match(problem({ options: { rateRefill: 0 } }), /`rateRefill`.*a number from 0.001/);
  // the API names its option, not the command-line flag the caller never wrote
  assert.equal(problem({ options: { port: 70000 } }), 'Invalid value for option `port`: expected an integer from 0 to 65535, got `70000` (number)');
  assert.match(problem({ file: { nosuch: 1 } }), /Unknown setting `nosuch` in config file/);
  const both = problem({ flags: { port: 'x', backlog: 'y' } });
  assert.match(both, /`port`/);
  assert.match(both, /`backlog`/);
});

test('floodgate serve exits 2 with the message on a bad value, and on an unreadable config file', () => {
  const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
  const bad = spawnSync(process.execPath, [cli, 'serve', '--backlog', '-5'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /FG_ERR_INVALID_CONFIG: Invalid value for `backlog` \(--backlog\): expected an integer from 0 to 2147483647 or `max`, got `-5`/);
  const env = spawnSync(process.execPath, [cli, 'serve'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, FLOODGATE_MAX_PAYLOAD: 'huge' } });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /FLOODGATE_MAX_PAYLOAD/);
  const file = spawnSync(process.execPath, [cli, 'serve', '--config', '/nonexistent.json'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(file.status, 2);
  assert.match(file.stderr, /FG_ERR_CONFIG_FILE/);
});

test('floodgate serve prints the effective settings as JSON and stops on SIGTERM', async () => {
  const { spawn } = await import('node:child_process');
  const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
  const child = trackGroup(spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--backlog', '300'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  }));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (c) => {
        buf += c;
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(buf.slice(0, nl));
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const report = JSON.parse(line);
    assert.equal(report.event, 'listening');
    assert.equal(report.backlog.requested, 300);
    assert.equal(report.backlog.effective, 300);
    assert.ok(report.capacity.maxConnections > 0);
    assert.match(report.capacity.explanation, /per connection/);
    assert.equal(report.overrides.backlog, 'flag');
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
  } finally {
    await stopGroup(child);
  }
});

test('--help and docs show defaults in the units users type', async () => {
  const { describeDefault } = await import('../../src/config/setting.js');
  const { SERVER_SETTINGS } = await import('../../src/config/server-settings.js');
  const byKey = (k: string) => SERVER_SETTINGS.find((s) => s.key === k)!;
  assert.equal(describeDefault(byKey('admissionTimeout')), '`5s`');
  assert.equal(describeDefault(byKey('memoryOverhead')), '`64MB`');
  assert.equal(describeDefault(byKey('maxPayload')), '`16KB`');
  assert.equal(describeDefault(byKey('historyTtl')), '`5m`');
  assert.equal(describeDefault(byKey('backlog')), '`max`');
  assert.equal(describeDefault(byKey('allowedOrigins')), 'none');
});

test('numbers from flags and env are decimal: hex, binary, octal and blank-padded forms are named errors, not silently other ports', () => {
  for (const [key, text] of [['port', '0x50'], ['port', '0b1010'], ['port', '0o17'], ['maxConnections', '1_000'], ['rateRefill', '0x10'], ['rateRefill', 'Infinity']] as const) {
    assert.throws(() => resolve({ flags: { [key]: text }, env: {} }), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && e.message.includes(`\`${key}\``) && e.message.includes(`got \`${text}\``), `${key}=${text}`);
  }
  // decimal forms, exponents included, still read
  const ok = resolve({ flags: { port: '8081', maxConnections: '1e4', rateRefill: '.5', rateBurst: '+20' }, env: { FLOODGATE_RATE_LIMIT_CLOSE: ' 7 ' } }).values;
  assert.deepEqual([ok.port, ok.maxConnections, ok.rateRefill, ok.rateBurst, ok.rateLimitClose], [8081, 10_000, 0.5, 20, 7]);
});
