import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ErrorCodes } from '../src/errors.js';

test('docs/errors.md documents exactly the codes in src/errors.ts', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^## (FG_ERR_[A-Z0-9_]+)\s*$/gm)].map((m) => m[1]));
  const defined = new Set(Object.keys(ErrorCodes));
  assert.deepEqual([...defined].filter((c) => !documented.has(c)), [], 'codes missing from docs/errors.md');
  assert.deepEqual([...documented].filter((c) => !defined.has(c)), [], 'documented codes that src/errors.ts does not define');
});

test('every FG_ERR_ code used in src/ is in the catalogue', async () => {
  const { readdirSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const root = new URL('../src', import.meta.url).pathname;
  const used = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/'(FG_ERR_[A-Z0-9_]+)'/g)) used.add(m[1]);
    }
  };
  walk(root);
  assert.deepEqual([...used].filter((c) => !(c in ErrorCodes)), []);
});
