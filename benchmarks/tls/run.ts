/**
 * TLS suite: what wss:// costs per handshake. floodgate serve with --tls-cert/--tls-key against a
 * plain `ws` server over https (same certificate, same Node), and both without TLS, in one run.
 * Load: `floodgate bench` (--insecure: the certificate is self-signed) at a fixed arrival rate,
 * one client process. Server CPU from /proc per 1,000 successful handshakes; handshake latency
 * as the client sees it (TCP connect → 101, TLS included). Prints a markdown section; writes
 * benchmarks/results/tls.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as bench } from '../../src/loadgen/run.js';
import { cpuSeconds, listeningPort } from '../lib/measure.js';

const N = Number(process.env.FG_BENCH_TLS_CONNECTIONS ?? (process.env.FG_BENCH_SOAK ? 10_000 : 1500));
const RATE = Number(process.env.FG_BENCH_TLS_RATE ?? 300);
const RUNS = Number(process.env.FG_BENCH_TLS_RUNS ?? 2);
const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'fg-bench-tls-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
// EC P-256: what a current ACME client issues by default; RSA-2048 costs the server more per handshake
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });

type Name = 'floodgate' | 'ws';
interface Proc { child: ChildProcess; port: number }

async function start(name: Name, tls: boolean): Promise<Proc> {
  const args = name === 'floodgate'
    ? [`${root}dist/cli/main.js`, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'warn', ...(tls ? ['--tls-cert', cert, '--tls-key', key] : [])]
    : ['--import', 'tsx', `${root}benchmarks/tls/ws-baseline.ts`, ...(tls ? [cert, key] : [])];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  return { child, port: await listeningPort(child, name) };
}

async function stop(p: Proc): Promise<void> {
  const exited = new Promise((r) => p.child.once('exit', r));
  process.kill(-p.child.pid!, 'SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (p.child.exitCode === null) process.kill(-p.child.pid!, 'SIGKILL');
}

async function measure(name: Name, tls: boolean) {
  const p = await start(name, tls);
  try {
    await sleep(500);
    const cpu0 = cpuSeconds(p.child.pid!);
    let cpu1 = 0;
    const r = bench({ url: `${tls ? 'wss' : 'ws'}://127.0.0.1:${p.port}/`, connections: N, rate: RATE, durationMs: 2000, workers: 1, insecure: true, teardown: 'reset', tickMs: 250 });
    r.on('tick', (t: { total: { successes: number; failures: number } }) => {
      if (cpu1 === 0 && t.total.successes + t.total.failures >= N) cpu1 = cpuSeconds(p.child.pid!);
    });
    const res = await r;
    if (cpu1 === 0) cpu1 = cpuSeconds(p.child.pid!);
    const hs = res.latencyMs.handshake;
    return { server: name, tls, attempts: N, succeeded: res.totals.successes, cpuPer1000: ((cpu1 - cpu0) / Math.max(1, res.totals.successes)) * 1000, p50: hs.p50, p99: hs.p99 };
  } finally {
    await stop(p);
  }
}

const rows = [];
for (let i = 0; i < RUNS; i++) {
  for (const tls of [false, true]) for (const name of ['ws', 'floodgate'] as const) rows.push(await measure(name, tls));
}
mkdirSync(`${root}benchmarks/results`, { recursive: true });
writeFileSync(`${root}benchmarks/results/tls.json`, JSON.stringify({ connections: N, rate: RATE, runs: RUNS, rows }, null, 2));

const runs = Array.from({ length: RUNS }, (_, i) => rows.slice(i * 4, i * 4 + 4));
const cpuOf = (run: typeof rows, name: Name, tls: boolean) => run.find((r) => r.server === name && r.tls === tls)!.cpuPer1000;
const per = (f: (run: typeof rows) => number) => runs.map((run) => f(run).toFixed(2)).join(', ');
const out = [
  '## TLS: server CPU per handshake, wss:// against ws over https',
  '',
  `Reproduce: \`npm run bench -- tls\` (${N} connections at ${RATE}/s from one \`floodgate bench --insecure\` process, ${RUNS} runs of each, EC P-256 self-signed certificate, TLS 1.3; clients and server share the 2 cores).`,
  '',
  '| server | TLS | run | succeeded | server CPU s / 1,000 handshakes | handshake p50 | p99 |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r, i) => `| ${r.server} | ${r.tls ? 'wss' : 'ws'} | ${Math.floor(i / 4) + 1} | ${r.succeeded}/${r.attempts} | ${r.cpuPer1000.toFixed(3)} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms |`),
  '',
  `Per run (ratios of server CPU per handshake): floodgate wss / ws over https **${per((r) => cpuOf(r, 'floodgate', true) / cpuOf(r, 'ws', true))}**; wss / ws for floodgate ${per((r) => cpuOf(r, 'floodgate', true) / cpuOf(r, 'floodgate', false))}, for plain ws ${per((r) => cpuOf(r, 'ws', true) / cpuOf(r, 'ws', false))}. CPU is read from /proc in 10 ms ticks: with ${N} handshakes a run resolves about 0.02 s per 1,000.`,
  '',
];
process.stdout.write(out.join('\n'));
