// Several load machines as one run: FG_BENCH_SEGMENTS (default 3) network-namespace "hosts" each run
// one segment of FG_BENCH_CONNECTIONS (default 24,000: more than one generator process can hold
// under the 20,000-fd limit) against `floodgate serve --workers 2` in a gateway namespace, start
// together at a Redis barrier, and the last segment writes the merged run. Needs root (ip netns).
// Prints a markdown section; writes benchmarks/results/segments.json and the merged run and report
// to benchmarks/results/segments-run.{json,html}. Run: node --import tsx benchmarks/segments/run.ts
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../src/loadgen/types.js';
import { createLab, destroyLab, NsProcess, waitForRedisIn, type Lab } from '../../test/helpers/netns-lab.js';
import { netnsAvailable } from '../../test/doctor/helpers/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const results = join(root, 'benchmarks', 'results');
const N = Number(process.env.FG_BENCH_CONNECTIONS ?? 24_000);
const S = Number(process.env.FG_BENCH_SEGMENTS ?? 3);
const RATE = Number(process.env.FG_BENCH_RATE ?? 500);
const HOLD = process.env.FG_BENCH_HOLD ?? '10s';
const BALANCE = process.env.FG_BENCH_BALANCE ?? 'shared';
const node = [process.execPath, join(root, 'dist/cli/main.js')];
const fmt = (n: number): string => n.toLocaleString('en-US');

async function main(): Promise<void> {
  if (!netnsAvailable()) {
    console.log('## segments\n\nSkipped: needs root and `ip netns`.\n');
    return;
  }
  mkdirSync(results, { recursive: true });
  const tag = `bs-${process.pid}`;
  const procs: NsProcess[] = [];
  let lab: Lab | undefined;
  const cleanup = async (): Promise<void> => {
    for (const p of procs) await p.kill();
    if (lab) destroyLab(lab);
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    lab = createLab(tag, S, '10.78.0');
    const { gateway, hosts } = lab;
    const redis = new NsProcess(gateway.ns, ['redis-server', '--bind', gateway.ip, '--port', '6390', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--protected-mode', 'no']);
    procs.push(redis);
    await waitForRedisIn(gateway.ns, gateway.ip, 6390);
    const serve = new NsProcess(gateway.ns, [...node, 'serve', '--host', gateway.ip, '--port', '8080', '--workers', '2', '--worker-balance', BALANCE, '--log-format', 'json'], { cwd: root });
    procs.push(serve);
    await serve.waitFor(/"workers":\{/, 60_000);
    const sync = `redis://${gateway.ip}:6390/${tag}`;
    const mergedJson = join(results, 'segments-run.json');
    const mergedHtml = join(results, 'segments-run.html');
    const args = (k: number): string[] => ['bench', `ws://${gateway.ip}:8080/`, '-c', String(N), '--rate', `${RATE}/s`, '-d', HOLD, '--teardown', 'reset',
      '--segment', `${k}/${S}`, '--sync', sync, '--sync-timeout', '120s', '--label', hosts[k - 1].name, '-w', '1',
      '--out', join(results, `segments-${k}.json`), '--merged-out', mergedJson, '--merged-report', mergedHtml];
    const started = Date.now();
    const segs = hosts.map((h, k) => {
      const p = new NsProcess(h.ns, [...node, ...args(k + 1)], { cwd: root });
      procs.push(p);
      return p;
    });
    const codes = await Promise.all(segs.map((p) => p.exited));
    const wallS = (Date.now() - started) / 1000;
    if (codes.some((c) => c !== 0)) throw new Error(`segments exited ${codes.join(', ')}: ${segs.map((p) => p.stderr.slice(-1500)).join('\n---\n')}`);
    const m = JSON.parse(readFileSync(mergedJson, 'utf8')) as BenchResult;
    const parts = m.parts ?? [];
    const summary = {
      connections: N,
      segments: S,
      rate: RATE,
      hold: HOLD,
      attempts: m.totals.attempts,
      held: m.totals.successes,
      peakOpen: m.totals.peakOpen,
      failures: m.failures.map((f) => ({ kind: f.kind, count: f.count })),
      handshakeMs: m.latencyMs.handshake,
      startLagMs: m.latencyMs.startLag,
      perMachine: parts.map((p) => ({ label: p.label, segment: p.segment, held: p.totals.successes, attempts: p.totals.attempts, peakFds: p.evidence.generator.peakFdsPerProcess, skewMs: p.clock?.skewMs, rttMs: p.clock?.rttMs, waitedMs: p.clock?.waitedMs })),
      diagnosis: m.diagnosis?.headline,
      wallS,
      command: `${args(1).join(' ').replaceAll(`${root}`, '').replace(/--segment 1\//, '--segment k/').replace(/--label host-1/, '--label host-k').replace(/segments-1\.json/, 'segments-k.json')}`,
    };
    writeFileSync(join(results, 'segments.json'), JSON.stringify(summary, null, 2));
    const rows = summary.perMachine.map((p) => `| ${p.label} | ${p.segment?.index}/${p.segment?.count} | ${fmt(p.held)} / ${fmt(p.attempts)} | ${fmt(p.peakFds ?? 0)} | ${p.skewMs} ms (rtt ${p.rttMs} ms) |`).join('\n');
    console.log(`## segments

${S} load hosts (network namespaces on one bridge) each ran segment k/${S} of one scenario of ${fmt(N)} connections at ${fmt(RATE)}/s, held ${HOLD}, against \`floodgate serve --workers 2 --worker-balance ${BALANCE}\` in a gateway namespace; they started together at a Redis barrier and the last one wrote the merged run.

| | |
|---|---|
| held to the end (merged) | **${fmt(m.totals.successes)} / ${fmt(m.totals.attempts)}**, peak open ${fmt(m.totals.peakOpen)} |
| handshake (merged HDR) | p50 ${m.latencyMs.handshake.p50} ms, p99 ${m.latencyMs.handshake.p99} ms, max ${m.latencyMs.handshake.max} ms |
| start lag (merged) | p99 ${m.latencyMs.startLag.p99} ms |
| failures | ${m.failures.map((f) => `${f.kind} ${fmt(f.count)}`).join(', ') || 'none'} |
| diagnosis | ${m.diagnosis?.headline} |
| wall time | ${wallS.toFixed(1)} s |

| machine | segment | held / attempts | peak fds (1 process) | clock skew vs Redis |
|---|---|---|---|---|
${rows}

One generator process can hold at most about 19,900 connections here (20,000 fds per process); the merged run held ${fmt(m.totals.successes)}.
Command on host k (1…${S}): \`floodgate ${summary.command}\`. Reproduce: \`npm run bench -- segments\` (root; FG_BENCH_CONNECTIONS, FG_BENCH_RATE, FG_BENCH_HOLD, FG_BENCH_BALANCE).
`);
  } finally {
    await cleanup();
  }
}

await main();
