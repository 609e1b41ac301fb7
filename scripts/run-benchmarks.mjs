#!/usr/bin/env node
// `npm run bench`: builds, runs every suite in benchmarks/<suite>/run.ts one after the other, and
// rewrites docs/benchmarks.md entirely from the kept results. Each suite prints its markdown
// section on stdout and writes its raw numbers to benchmarks/results/<suite>.json; this script
// keeps the section as benchmarks/results/<suite>.md (with the run's date, Node version and
// suite time), so the page is always assembled from files that sit next to their raw data.
//
//   npm run bench                 all suites, then the page
//   npm run bench -- server       one suite, then the page (the other sections from their kept results)
//   npm run bench -- --page       only reassemble the page from benchmarks/results/
//   npm run soak                  the suites' soak variants (FG_BENCH_SOAK=1); the page is not touched
//
// Suites bound their own time and count; a suite still running after 30 min (FG_BENCH_SUITE_TIMEOUT_MS)
// is stopped with its whole process tree, and so is the running suite when this script gets SIGINT
// or SIGTERM. Every suite is started with benchmarks/lib/kill-started-on-exit.mjs preloaded, so the
// servers it started (redis-server, gateways) die with it however it ends.
// Nothing on the page is written by hand: a claim about a figure belongs in the suite that
// measures it, computed from that run's numbers.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { runSuite } from '../benchmarks/lib/kill-started.mjs';

const root = new URL('..', import.meta.url).pathname;
const results = join(root, 'benchmarks', 'results');
const soak = process.argv.includes('--soak');
const pageOnly = process.argv.includes('--page');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const allSuites = readdirSync(join(root, 'benchmarks'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'benchmarks', d.name, 'run.ts')))
  .map((d) => d.name)
  .sort();
const unknown = only.filter((name) => !allSuites.includes(name));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; the suites are ${allSuites.join(', ')}`);
  process.exit(2);
}
const suites = pageOnly ? [] : allSuites.filter((name) => only.length === 0 || only.includes(name));

mkdirSync(results, { recursive: true });
if (suites.length > 0) {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(1);
}

const suiteTimeoutMs = Number(process.env.FG_BENCH_SUITE_TIMEOUT_MS ?? 30 * 60_000);
if (!Number.isSafeInteger(suiteTimeoutMs) || suiteTimeoutMs < 1000) {
  console.error(`FG_BENCH_SUITE_TIMEOUT_MS must be a whole number of milliseconds from 1000 up, got ${process.env.FG_BENCH_SUITE_TIMEOUT_MS}`);
  process.exit(2);
}
// Ctrl-C reaches this script's process group only; the suite runs in its own, so pass it on.
const interrupted = new AbortController();
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15]]) {
  process.on(signal, () => {
    if (interrupted.signal.aborted) return;
    console.error(`\n${signal}: stopping the running suite and everything it started`);
    interrupted.abort();
    process.exitCode = 128 + number;
  });
}

const fdLimit = /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 'unknown';
const machine = `${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB, ${fdLimit} fds per process`;
let failed = false;
for (const suite of suites) {
  console.error(`\n=== benchmark suite: ${suite} ===`);
  const started = Date.now();
  const preload = join(root, 'benchmarks', 'lib', 'kill-started-on-exit.mjs');
  const r = await runSuite(['--import', 'tsx', '--import', preload, join('benchmarks', suite, 'run.ts')], {
    cwd: root,
    env: { ...process.env, ...(soak ? { FG_BENCH_SOAK: '1' } : {}) },
    timeoutMs: suiteTimeoutMs,
    signal: interrupted.signal,
  });
  process.stdout.write(r.stdout);
  if (r.stopped === 'timeout') console.error(`${suite}: stopped after ${suiteTimeoutMs / 60_000} min (FG_BENCH_SUITE_TIMEOUT_MS), with every process it started`);
  if (interrupted.signal.aborted) process.exit(process.exitCode);
  if (soak) continue; // soak runs are longer variants; they do not replace the page's sections
  // a suite that keeps no JSON (its table is all it measures) gets no link to one
  const raw = existsSync(join(results, `${suite}.json`)) ? `; raw results: [\`benchmarks/results/${suite}.json\`](../benchmarks/results/${suite}.json)` : '';
  const stamp = `_Run ${new Date(started).toISOString()} on Node ${process.version}, ${machine}; suite time ${Math.round((Date.now() - started) / 1000)} s${raw}._`;
  if (r.status !== 0) {
    failed = true;
    // a failed run replaces the section: the page must not show numbers the last run did not confirm
    writeFileSync(join(results, `${suite}.md`), `## ${suite}\n\nThe suite failed (exit ${r.status ?? r.signal}${r.stopped === 'timeout' ? `, stopped after ${suiteTimeoutMs / 60_000} min` : ''}) in its last run, ${new Date(started).toISOString()}; rerun \`npm run bench -- ${suite}\`.\n`);
  } else {
    writeFileSync(join(results, `${suite}.md`), `${r.stdout.trim()}\n\n${stamp}\n`);
  }
}

if (!soak) {
  const sections = allSuites.map((suite) => {
    const file = join(results, `${suite}.md`);
    return existsSync(file) ? readFileSync(file, 'utf8').trim() : `## ${suite}\n\nNot run yet: \`npm run bench -- ${suite}\`.`;
  });
  const header = `# Benchmarks

Generated by \`npm run bench\` from the results kept in \`benchmarks/results/\` (one markdown section
and one JSON file of raw numbers per suite); nothing on this page is written by hand. Each section
ends with when and on what machine it ran. Everything runs on loopback with the load generator and
the server sharing the cores, so absolute numbers move with the machine's load; each suite compares
against a baseline measured in the same run.
Regenerate everything with \`npm run bench\` (several minutes, on a quiet machine), one suite with
\`npm run bench -- <suite>\`.
`;
  writeFileSync(join(root, 'docs', 'benchmarks.md'), `${header}\n${sections.join('\n\n')}\n`);
  console.error(`docs/benchmarks.md rewritten from ${allSuites.length} sections`);
}
process.exit(failed ? 1 : 0);
