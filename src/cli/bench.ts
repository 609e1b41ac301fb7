import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FloodgateError, isFloodgateError } from '../errors.js';
import { parseDuration, parseRate } from '../loadgen/durations.js';
import { headerArg, intArg, MISSING_TARGET } from './bench-args.js';
import type { BenchOptions } from '../loadgen/types.js';
import { registerBenchMerge } from './bench-merge.js';

/** Seconds between progress lines when stderr is not a terminal. */
const PROGRESS_EVERY_S = 5;

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `floodgate bench <url>` and `floodgate bench compare a.json b.json`: the CLI only parses and calls the API. */
export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    // `bench compare … --json --report x.html`: those flags belong to compare, not to bench.
    .enablePositionalOptions()
    .description('Open, hold and classify WebSocket (ws://, wss://) or TCP (tcp://) connections against any server.')
    .argument('[url]', 'target: ws://host:port/path, wss://… or tcp://host:port')
    .option('-c, --connections <n>', 'connections to open (default 1)')
    .option('--burst', 'open all connections at once (default when no --rate)')
    .option('-r, --rate <r>', 'arrival rate, e.g. 500/s')
    .option('--ramp-to <r>', 'ramp the arrival rate linearly to this rate')
    .option('-d, --duration <d>', 'hold time after the last arrival (e.g. 30s)', '10s')
    .option('--hold-forever', 'hold until SIGINT (bounded by --max-duration)')
    .option('--max-duration <d>', 'upper bound for the whole run')
    .option('-s, --scenario <file>', 'JSON/YAML scenario with several stages')
    .option('-w, --workers <n>', 'worker processes (default: none below 16,000 connections (all in this process), else one per 16,000, more if the fd limit needs it)')
    .option('--source-ips <list>', 'source addresses: 127.0.0.2-127.0.0.50 or a comma list')
    .option('--protocol <p>', 'Sec-WebSocket-Protocol')
    .option('-H, --header <h>', 'extra upgrade header "Name: value" (repeatable)', collect)
    .option('--subscribe <channel>', 'send a Floodgate subscribe after open')
    .option('--publish-rate <r>', 'messages per second per connection after open')
    .option('--payload <text>', 'raw text frame to send at --publish-rate instead of a Floodgate publish')
    .option('--connect-timeout <d>', 'TCP connect timeout', '10s')
    .option('--handshake-timeout <d>', 'upgrade answer timeout', '10s')
    .option('--insecure', 'wss://: accept any certificate (self-signed test servers); default: verify')
    .option('--teardown <mode>', 'clean (close handshake) or reset (no TIME_WAIT here)')
    .option('--threshold <expr>', 'e.g. "success_rate>=0.99" (repeatable); when given, they alone decide the exit code (1 when one is broken)', collect)
    .option('--server-pid <pid>', 'sample this server process\'s fds, CPU and state during the run, and notice if it exits')
    .option('--fd-limit <n>', 'fd limit per process for the pre-flight (default: read it)')
    .option('--force', 'run even when the pre-flight refuses the plan')
    .option('--json', 'print the result as JSON on stdout (schema: docs/bench.md)')
    .option('--report <file>', 'write a self-contained HTML report')
    .option('--out <file>', 'also write the JSON result to this file')
    // several machines as one run (docs/bench.md, "Many machines")
    .option('--segment <i/N>', 'run segment i of N of the scenario (N machines with i = 1…N add up to the whole)')
    .option('--label <name>', 'name of this machine in merged reports (default: the hostname)')
    .option('--start-at <time>', 'start at this ISO 8601 time (with --sync: on Redis\'s clock)')
    .option('--sync <url>', 'redis://host:port/<run-id>: wait for all N segments, start together, store the result in Redis')
    .option('--sync-timeout <d>', 'how long to wait for the other segments at the barrier', '60s')
    .option('--merged-out <file>', 'with --sync: the segment that stores the last result writes the merged JSON here')
    .option('--merged-report <file>', 'with --sync: the segment that stores the last result writes the merged HTML report here')
    .action(async (url: string | undefined, o: Record<string, any>, cmd: Command) => {
      // only what every run needs: the HTML report (uPlot) and the scenario reader (yaml) load when
      // asked for, so the generator's idle footprint does not hold their code (~3 MB RSS on Node 24)
      const { run } = await import('../loadgen/run.js');
      const { renderSummary } = await import('../loadgen/summary.js');
      const { renderProgress, renderClosing } = await import('../loadgen/summary.js');
      // The CLI owns its process, so it may size V8's young generation for a run held in-process.
      (await import('../loadgen/worker.js')).keepYoungGenerationSmall();
      const scenario = o.scenario ? (await import('../loadgen/scenario.js')).loadScenario(o.scenario) : {};
      // A usage mistake gets one line and the usage, like an unknown flag (src/cli/main.ts).
      const usage = (err: unknown): never => {
        if (isFloodgateError(err)) cmd.error(`floodgate: ${err.code}: ${err.message}`, { exitCode: 2, code: err.code });
        throw err;
      };
      if (!url && !scenario.url) usage(new FloodgateError('FG_ERR_BENCH_TARGET', MISSING_TARGET));
      const headers: Record<string, string> = {};
      for (const h of (o.header as string[] | undefined) ?? []) {
        let name: string, value: string;
        try {
          [name, value] = headerArg(h);
        } catch (err) {
          usage(err);
        }
        headers[name!] = value!;
      }
      let options: BenchOptions;
      try {
        options = {
          ...scenario,
          url: url ?? (scenario.url as string),
          connections: intArg('--connections/-c', o.connections, 1, 10_000_000),
          rate: o.rate ? parseRate(o.rate, '--rate/-r') : undefined,
          rampTo: o.rampTo ? parseRate(o.rampTo, '--ramp-to') : undefined,
          durationMs: parseDuration(o.duration, '--duration/-d'),
          holdForever: o.holdForever,
          maxDurationMs: o.maxDuration ? parseDuration(o.maxDuration, '--max-duration') : scenario.maxDurationMs,
          workers: intArg('--workers/-w', o.workers, 1, 1024) ?? scenario.workers,
          sourceIps: o.sourceIps ?? scenario.sourceIps,
          protocol: o.protocol ?? scenario.protocol,
          headers: { ...scenario.headers, ...headers },
          subscribe: o.subscribe ?? scenario.subscribe,
          publishRate: o.publishRate ? parseRate(o.publishRate, '--publish-rate') : scenario.publishRate,
          payload: o.payload ?? scenario.payload,
          connectTimeoutMs: parseDuration(o.connectTimeout, '--connect-timeout'),
          handshakeTimeoutMs: parseDuration(o.handshakeTimeout, '--handshake-timeout'),
          teardown: o.teardown,
          thresholds: [...(scenario.thresholds ?? []), ...((o.threshold as string[] | undefined) ?? [])],
          serverPid: intArg('--server-pid', o.serverPid, 1, 4_194_304),
          fdLimit: intArg('--fd-limit', o.fdLimit, 1, 1 << 30),
          force: o.force,
          segment: o.segment,
          label: o.label,
          startAt: o.startAt,
          sync: o.sync,
          syncTimeoutMs: parseDuration(o.syncTimeout, '--sync-timeout'),
          insecure: o.insecure ?? scenario.insecure,
        };
      } catch (err) {
        return usage(err);
      }
      const r = run(options);
      const tty = process.stderr.isTTY;
      r.on('plan', (p) => {
        if (!o.json) for (const w of p.warnings) process.stderr.write(`warning: ${w}\n`);
      });
      r.on('barrier', (b) => process.stderr.write(`segment ${b.segment} of run ${b.runId}: waiting at the start barrier\n`));
      r.on('start', (c) => {
        if (c.source !== 'local') process.stderr.write(`${describeStart(c)}\n`);
      });
      r.on('warning', (w) => process.stderr.write(`warning: ${w}\n`));
      let stored: { stored: number; count: number } | undefined;
      r.on('stored', (s) => (stored = s));
      // Progress on stderr: redrawn every second on a terminal, one line every 5 s otherwise (CI logs)
      let lastLine = -Infinity;
      let closing = false;
      r.on('tick', (t) => {
        if (closing) return; // keep "closing …" on screen until the summary
        if (tty) process.stderr.write(`\r${renderProgress(t, (process.stderr.columns || 120) - 1)}\x1b[K`);
        else if (t.t - lastLine >= PROGRESS_EVERY_S) {
          lastLine = t.t;
          process.stderr.write(`${renderProgress(t)}\n`);
        }
      });
      r.on('closing', (c) => {
        closing = true;
        process.stderr.write(tty ? `\r${renderClosing(c)}\x1b[K` : `${renderClosing(c)}\n`);
      });
      const onSigint = (): void => r.stop();
      process.once('SIGINT', onSigint);
      const result = await r;
      process.off('SIGINT', onSigint);
      if (tty) process.stderr.write('\n');
      const json = JSON.stringify(result, null, 2);
      if (o.out) writeFileSync(o.out, json);
      if (o.report) writeFileSync(o.report, (await import('../loadgen/report-html.js')).renderReport(result));
      if ((o.mergedOut || o.mergedReport) && o.sync && stored && stored.stored >= stored.count) {
        // this segment stored the last result: it writes the run's merged files
        const { runMerge } = await import('./bench-merge.js');
        await runMerge([], { from: o.sync, wait: '10s', out: o.mergedOut, report: o.mergedReport });
        process.stderr.write(`merged ${stored.count} segments into ${[o.mergedOut, o.mergedReport].filter(Boolean).join(' and ')}\n`);
      }
      process.stdout.write(o.json ? `${json}\n` : `${renderSummary(result)}\n`);
      // 1 when a connection failed or a threshold broke; see EXIT_RULE (docs/bench.md, "Exit codes")
      process.exitCode = result.exit?.code ?? 0;
    });

  registerBenchMerge(bench);

  bench
    .command('compare')
    .description('Compare two bench --json results (e.g. before and after tuning): key metrics, deltas and the better run.')
    .argument('<a>', 'first result file (A, e.g. before)')
    .argument('<b>', 'second result file (B, e.g. after)')
    .option('--json', 'print the comparison rows as JSON on stdout (nothing else)')
    .option('--report <file>', 'write a self-contained HTML report: both runs side by side, overlaid charts, failures')
    .action(async (a: string, b: string, o: { json?: boolean; report?: string }) => {
      const { readResult, compareResults, compareWarnings, renderComparison } = await import('../loadgen/compare.js');
      const ra = readResult(a);
      const rb = readResult(b);
      const rows = compareResults(ra, rb);
      const warnings = compareWarnings(ra, rb);
      // with --json stdout is the rows only; the warnings still reach a person on stderr
      if (o.json) for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      if (o.report) {
        const { renderComparisonReport } = await import('../loadgen/compare-html.js');
        writeFileSync(o.report, renderComparisonReport(ra, rb, a, b));
      }
      process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${renderComparison(rows, a, b, warnings)}\n`);
    });
}

/** One stderr line on how time zero was agreed, with the clock skew against Redis when there was a barrier. */
function describeStart(c: { startAt: string; source: string; skewMs?: number; rttMs?: number; runId?: string; waitedMs?: number }): string {
  if (c.source === 'redis') {
    const sign = (c.skewMs ?? 0) >= 0 ? '+' : '';
    return `run ${c.runId}: all segments ready after ${((c.waitedMs ?? 0) / 1000).toFixed(1)} s, start at ${c.startAt} (this clock); clock skew vs Redis ${sign}${c.skewMs} ms (±${Math.round(((c.rttMs ?? 0) / 2) * 1000) / 1000} ms)`;
  }
  return c.source === 'start-at' ? `start at ${c.startAt} (--start-at, this machine's clock)` : `start at ${c.startAt}`;
}
