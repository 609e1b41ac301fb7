/**
 * Where an idle connection's V8 heap goes: heap snapshots of `floodgate serve` before and after N
 * idle connections (default 1000), self size by constructor divided by N, largest first.
 * Not a suite (no run.ts part): `npx tsx benchmarks/memory/heap-per-connection.ts [N]`.
 * "code" is JIT code compiled while the handshakes ran, not per connection.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
const N = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'fg-heap-'));
const main = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const child = spawn(process.execPath, ['--heapsnapshot-signal=SIGUSR2', main, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
const port = await new Promise<number>((res) => { let b = ''; child.stdout!.on('data', (c) => { b += c; const i = b.indexOf('\n'); if (i >= 0) res(JSON.parse(b.slice(0, i)).listen.port); }); });
async function snap(): Promise<Map<string, [number, number]>> {
  const before = new Set(readdirSync(dir));
  child.kill('SIGUSR2');
  let file = '';
  for (let i = 0; i < 600 && !file; i++) { await sleep(200); const f = readdirSync(dir).find((x) => !before.has(x) && x.endsWith('.heapsnapshot')); if (f) { const a = readFileSync(`${dir}/${f}`, 'utf8'); if (a.endsWith('}')) file = f; } }
  const s = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
  const f = s.snapshot.meta.node_fields; const nf = f.length; const types = s.snapshot.meta.node_types[0];
  const ti = f.indexOf('type'), ni = f.indexOf('name'), si = f.indexOf('self_size');
  const agg = new Map<string, [number, number]>();
  for (let i = 0; i < s.nodes.length; i += nf) {
    const t = types[s.nodes[i + ti]]; const name = t === 'object' || t === 'closure' || t === 'native' ? `${t}:${s.strings[s.nodes[i + ni]]}` : t;
    const e = agg.get(name) ?? [0, 0]; e[0]++; e[1] += s.nodes[i + si]; agg.set(name, e);
  }
  return agg;
}
await sleep(1000);
const a = await snap();
const socks: WebSocket[] = [];
for (let k = 0; k < N; k += 200) await Promise.all(Array.from({ length: Math.min(200, N - k) }, () => new Promise<void>((res) => { const w = new WebSocket(`ws://127.0.0.1:${port}/`); socks.push(w); w.once('message', () => res()); w.once('error', () => res()); })));
await sleep(3000);
const b = await snap();
const rows = [...b].map(([k, [c, sz]]) => { const [c0, s0] = a.get(k) ?? [0, 0]; return [k, (c - c0) / N, (sz - s0) / N] as const; }).filter((r) => Math.abs(r[2]) >= 8).sort((x, y) => y[2] - x[2]);
let total = 0; for (const r of rows) total += r[2];
console.log('per connection, bytes (count per conn):', total.toFixed(0));
for (const r of rows.slice(0, 40)) console.log(r[2].toFixed(0).padStart(6), r[1].toFixed(2).padStart(6), r[0]);
for (const w of socks) w.terminate();
child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
process.exit(0);
