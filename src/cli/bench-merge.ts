import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../loadgen/durations.js';
import type { BenchResult } from '../loadgen/types.js';

export interface MergeCliOptions {
  out?: string;
  report?: string;
  json?: boolean;
  partial?: boolean;
  from?: string;
  wait?: string;
  threshold?: string[];
}

/** Reads the inputs (files, or every segment's result stored in Redis by `--sync`), merges them, writes and prints. */
export async function runMerge(files: string[], o: MergeCliOptions): Promise<BenchResult> {
  const { readResult } = await import('../loadgen/compare.js');
  const { mergeResults } = await import('../loadgen/merge.js');
  const inputs = files.map((f) => ({ result: readResult(f), source: f }));
  if (o.from) {
    const { fetchResults, parseSyncUrl } = await import('../loadgen/sync.js');
    const target = parseSyncUrl(o.from);
    const stored = await fetchResults(target, parseDuration(o.wait ?? '0s', 'wait'));
    for (const s of stored) inputs.push({ result: JSON.parse(s.json) as BenchResult, source: `${target.url}#${s.index}` });
  }
  const merged = mergeResults(inputs, { partial: o.partial, thresholds: o.threshold });
  await writeMerged(merged, o);
  return merged;
}

export async function writeMerged(merged: BenchResult, o: { out?: string; report?: string }): Promise<void> {
  if (o.out) writeFileSync(o.out, JSON.stringify(merged, null, 2));
  if (o.report) {
    const { renderReport } = await import('../loadgen/report-html.js');
    writeFileSync(o.report, renderReport(merged));
  }
}

/** `floodgate bench merge a.json b.json … --out run.json --report run.html` (or `--from redis://…/<run-id>`). */
export function registerBenchMerge(bench: Command): void {
  bench
    .command('merge')
    .description('Merge the results of several machines (the N segments of one run) into one run: counts, series and HDR histograms add up, the diagnosis runs per machine.')
    .argument('[files...]', 'bench --json result files, one per machine')
    .option('--from <url>', 'also read every segment result stored in Redis by --sync: redis://host:port/<run-id>')
    .option('--wait <d>', 'with --from: wait up to this long for all N results (e.g. 5m)', '0s')
    .option('--partial', 'merge even when some of the N segments are missing')
    .option('--out <file>', 'write the merged result (floodgate.bench/1 JSON) to this file')
    .option('--report <file>', 'write a self-contained HTML report of the merged run, with a section per machine')
    .option('--threshold <expr>', 'also judge the merged run, e.g. "successes>=200000" (repeatable); when any is given, the thresholds decide the exit code', (v: string, prev: string[] = []) => [...prev, v])
    .option('--json', 'print the merged result as JSON on stdout (nothing else)')
    .action(async (files: string[], o: MergeCliOptions) => {
      const merged = await runMerge(files, o);
      const { renderSummary } = await import('../loadgen/summary.js');
      process.stdout.write(o.json ? `${JSON.stringify(merged, null, 2)}\n` : `${renderSummary(merged)}\n`);
      process.exitCode = merged.exit?.code ?? 0;
    });
}
