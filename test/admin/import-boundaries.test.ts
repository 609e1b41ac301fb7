import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The split drawn in docs/architecture.md, checked on the import statements themselves:
// src/server/ (the data path) reaches the operator's side through src/admin/admin-surface.ts
// only, and src/admin/ reads the gateway through GatewayView, never gateway.ts, so no file of
// src/ imports itself back through a circle. Type-only imports count: they tie files as much.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of one file (static `from '…'`, `import '…'` and `import('…')`), as repo paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm)].map((m) => m[2]);
  return specs.map((s) => relative(root, resolve(dirname(file), s)).replace(/\.js$/, '.ts'));
}

const graph = new Map<string, string[]>(sourceFiles(src).map((f) => [relative(root, f), importsOf(f)]));

/** Every import circle among the files of src/ (strongly connected components of more than one file, or a self-import). */
function circles(): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const part: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        part.push(w);
      } while (w !== v);
      if (part.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(part.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

test('the reader finds the imports it is meant to check (so the rules below cannot pass on an empty graph)', () => {
  assert.ok(graph.size > 100, `only ${graph.size} files read under src/`);
  assert.ok(graph.get('src/server/gateway.ts')!.includes('src/admin/admin-surface.ts'));
  assert.ok(graph.get('src/admin/dashboard.ts')!.includes('src/server/gateway-view.ts'));
});

test('no import circles in src/', () => {
  assert.deepEqual(circles(), []);
});

test('the data path reaches the operator side through admin-surface.ts only', () => {
  const crossing: string[] = [];
  for (const [file, deps] of graph) {
    if (!file.startsWith('src/server/')) continue;
    for (const d of deps) if (d.startsWith('src/admin/') && d !== 'src/admin/admin-surface.ts') crossing.push(`${file} -> ${d}`);
  }
  assert.deepEqual(crossing, []);
});

test('the operator side reads the gateway through GatewayView, never gateway.ts or the session internals', () => {
  const internals = ['src/server/gateway.ts', 'src/server/session.ts', 'src/server/hub.ts', 'src/server/admission.ts'];
  const crossing: string[] = [];
  for (const [file, deps] of graph) {
    if (!file.startsWith('src/admin/')) continue;
    for (const d of deps) if (internals.includes(d)) crossing.push(`${file} -> ${d}`);
  }
  assert.deepEqual(crossing, []);
});

test('the auth code lives in src/auth/ and leans on neither the data path nor the operator side', () => {
  // The data path and the admin listener both call into src/auth/; the reverse would tie them back.
  // The one allowed crossing is the HistoryLimits type that namespace options carry.
  const allowed = ['src/auth/namespaces.ts -> src/server/history.ts'];
  const crossing: string[] = [];
  for (const [file, deps] of graph) {
    if (!file.startsWith('src/auth/')) continue;
    for (const d of deps) if (d.startsWith('src/server/') || d.startsWith('src/admin/')) crossing.push(`${file} -> ${d}`);
  }
  assert.deepEqual(crossing.filter((c) => !allowed.includes(c)), []);
  assert.ok(graph.get('src/server/gateway.ts')!.includes('src/auth/upgrade-auth.ts'), 'the gateway checks tokens and origins through src/auth/');
});
