#!/usr/bin/env node
// `npm run bench`: builds, runs every suite in benchmarks/<suite>/run.ts one after the other
// (each prints a markdown section and writes benchmarks/results/<suite>.json), and rewrites
// docs/benchmarks.md from their output. `npm run soak` runs the suites' soak variants
// (FG_BENCH_SOAK=1: longer holds, more connections). Suites bound their own time and count.
// Run one suite: `npm run bench -- server`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const soak = process.argv.includes('--soak');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const suites = readdirSync(join(root, 'benchmarks'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'benchmarks', d.name, 'run.ts')))
  .map((d) => d.name)
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(1);
mkdirSync(join(root, 'benchmarks', 'results'), { recursive: true });

const sections = [];
let failed = false;
for (const suite of suites) {
  console.error(`\n=== benchmark suite: ${suite} ===`);
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join('benchmarks', suite, 'run.ts')], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...(soak ? { FG_BENCH_SOAK: '1' } : {}) },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 30 * 60_000,
  });
  process.stdout.write(r.stdout ?? '');
  if (r.status !== 0) {
    failed = true;
    sections.push(`## ${suite}\n\nThe suite failed (exit ${r.status ?? r.signal}) in this run.\n`);
  } else {
    sections.push(`${r.stdout.trim()}\n\n_Suite time: ${Math.round((Date.now() - started) / 1000)} s._\n`);
  }
}

if (only.length === 0 && !soak) {
  const header = `# Benchmarks

Measured on this project's machine (2 cores, 24 GiB, loopback only, 20,000 fds per process), with
the load generator and the server sharing the two cores. Each suite runs its baseline in the same
run and reports ratios; absolute numbers move with the machine's load. Regenerate this page with
\`npm run bench\` (all suites, several minutes) or one suite with \`npm run bench -- <suite>\`
(then paste its section). Generated ${new Date().toISOString()} on Node ${process.version}.
`;
  writeFileSync(join(root, 'docs', 'benchmarks.md'), `${header}\n${sections.join('\n')}`);
}
process.exit(failed ? 1 : 0);
