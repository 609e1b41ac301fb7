// A scenario file is the user's, but a bad one must still end in one coded line (exit 2), never
// a stack trace, and nothing in it may turn into bytes on the wire the user did not mean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenario } from '../../src/loadgen/scenario.js';
import { headerArg } from '../../src/cli/bench-args.js';
import type { FloodgateError } from '../../src/errors.js';

test('a scenario nested absurdly deep, or with headers that would break the upgrade request, is FG_ERR_BENCH_PLAN', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-scenario-'));
  const n = 200_000;
  try {
    const cases: [string, string, RegExp][] = [
      // the error message's JSON.stringify overflowed the stack
      ['deep.json', `{"url":"ws://127.0.0.1:1/","stages":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`, /nests deeper than 64 levels/],
      ['deep.yaml', `url: ws://127.0.0.1:1/\nstages: ${'['.repeat(n)}${']'.repeat(n)}\n`, /nests deeper than 64 levels/],
      // a CR/LF in a value would add a header line of its own to every upgrade
      ['crlf.yaml', 'url: ws://127.0.0.1:1/\nstages: [{connections: 1, duration: 1s}]\nheaders: {"X-A": "b\\r\\nX-Injected: 1"}\n', /`headers\.X-A`/],
      ['name.json', '{"stages":[{"connections":1,"duration":"1s"}],"headers":{"Bad Name":"x"}}', /`headers\.Bad Name`/],
      ['value.json', '{"stages":[{"connections":1,"duration":"1s"}],"headers":{"X-N":5}}', /`headers\.X-N`/],
    ];
    for (const [name, text, re] of cases) {
      writeFileSync(join(dir, name), text);
      assert.throws(() => loadScenario(join(dir, name)), (e: FloodgateError) => e.code === 'FG_ERR_BENCH_PLAN' && re.test(e.message), name);
    }
    writeFileSync(join(dir, 'ok.yaml'), 'url: ws://127.0.0.1:1/\nstages: [{connections: 1, duration: 1s}]\nheaders: {"X-Tenant": "a b: c"}\n');
    assert.deepEqual(loadScenario(join(dir, 'ok.yaml')).headers, { 'X-Tenant': 'a b: c' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-H takes "Name: value" with a token name and no line breaks; anything else names the flag', () => {
  assert.deepEqual(headerArg('X-Tenant: a: b '), ['X-Tenant', 'a: b']);
  for (const bad of ['Bad', ': x', 'Bad Name: x', 'X-A: b\r\nX-B: c', 'X-A: b\nX-B: c']) {
    assert.throws(() => headerArg(bad), (e: FloodgateError) => e.code === 'FG_ERR_BENCH_PLAN' && /`--header\/-H`/.test(e.message), JSON.stringify(bad));
  }
});
