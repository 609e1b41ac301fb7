import { basename } from 'node:path';
import type { FailureBucket, RunEvidence } from '../doctor/run-evidence.js';
import { FloodgateError } from '../errors.js';
import type { KernelCounters } from '../system/kernel-counters.js';
import { decodeHistogram, encodeHistogram, mergeEncoded, newHistogram, summarize } from './histograms.js';
import { diagnoseParts } from './merge-diagnosis.js';
import { benchExit } from './exit-code.js';
import { checkThresholds, parseThreshold } from './thresholds.js';
import type { BenchResult, MergedPart, PlanSummary, SeriesPoint, Stage } from './types.js';

/**
 * `floodgate bench merge`: the results of N machines (usually the N segments of one scenario) as
 * one run. Counts and per-interval series add up; HDR histograms merge exactly (every recorded
 * value counts once, so the merged p99 is the p99 of all connections, not an average of p99s);
 * failure buckets are united by kind; the diagnosis runs per machine (see merge-diagnosis.ts).
 * Each machine's plan, evidence and diagnosis stay in `parts`, labelled. The result has the
 * `floodgate.bench/1` shape, so `bench compare` and the HTML report read it like any run.
 */
export interface MergeInput {
  result: BenchResult;
  /** Where it came from (a file name), for labels and errors. */
  source: string;
}

export interface MergeOptions {
  /** Merge the segments given even when some of the N are missing. */
  partial?: boolean;
  /** More threshold expressions for the merged run (the inputs' own are checked again too). */
  thresholds?: string[];
}

const json = (v: unknown): string => JSON.stringify(v);
const sumBy = <T>(xs: T[], f: (x: T) => number): number => xs.reduce((s, x) => s + f(x), 0);

export function mergeResults(inputs: MergeInput[], opts: MergeOptions = {}): BenchResult {
  if (inputs.length === 0) throw new FloodgateError('FG_ERR_BENCH_MERGE', 'Expected at least one bench result to merge, got none');
  const fail = (msg: string, details?: Record<string, unknown>): never => {
    throw new FloodgateError('FG_ERR_BENCH_MERGE', msg, details);
  };
  for (const i of inputs) {
    if (i.result.parts) fail(`${i.source} is already a merged result (${i.result.parts.length} machines): merge the machines' own result files`);
  }
  const urls = [...new Set(inputs.map((i) => i.result.target.url))];
  if (urls.length > 1) fail(`Expected every result to target the same URL, got ${inputs.map((i) => `${i.source}: ${i.result.target.url}`).join(', ')}`);

  // Segments: all or none, one N, one scenario, each index once.
  const segmented = inputs.filter((i) => i.result.segment);
  let scenario: Stage[] | undefined;
  if (segmented.length > 0) {
    if (segmented.length !== inputs.length) {
      fail(`Expected either only segment results or none, got segments (${segmented.map((i) => i.source).join(', ')}) and plain runs (${inputs.filter((i) => !i.result.segment).map((i) => i.source).join(', ')})`);
    }
    const n = inputs[0].result.segment!.count;
    const other = inputs.find((i) => i.result.segment!.count !== n);
    if (other) fail(`Expected segments of one split, got ${inputs[0].source} as ${inputs[0].result.segment!.index}/${n} and ${other.source} as ${other.result.segment!.index}/${other.result.segment!.count}`);
    scenario = inputs[0].result.segment!.scenario;
    const differs = inputs.find((i) => json(i.result.segment!.scenario) !== json(scenario));
    if (differs) fail(`Expected every segment to run the same scenario, ${differs.source} differs from ${inputs[0].source}: ${json(differs.result.segment!.scenario)} vs ${json(scenario)}`);
    const seen = new Map<number, string>();
    for (const i of inputs) {
      const k = i.result.segment!.index;
      if (seen.has(k)) fail(`Segment ${k}/${n} is given twice: ${seen.get(k)} and ${i.source}`);
      seen.set(k, i.source);
    }
    const missing = Array.from({ length: n }, (_, k) => k + 1).filter((k) => !seen.has(k));
    if (missing.length > 0 && !opts.partial) {
      fail(`Missing segment${missing.length === 1 ? '' : 's'} ${missing.map((k) => `${k}/${n}`).join(', ')} of ${n} (have ${[...seen.keys()].sort((a, b) => a - b).map((k) => `${k}/${n}`).join(', ')}); pass --partial to merge what is there`, { missing });
    }
    inputs = [...inputs].sort((a, b) => a.result.segment!.index - b.result.segment!.index);
  }

  const labels = uniqueLabels(inputs);
  // Align every series on one clock: Redis's when the start was agreed there, else each machine's own.
  const zero = (r: BenchResult): number => {
    const t = Date.parse(r.clock?.startAt ?? r.startedAt);
    return r.clock?.source === 'redis' && r.clock.skewMs !== undefined ? t + r.clock.skewMs : t;
  };
  const tickOf = (r: BenchResult): number => r.series[0]?.t ?? 1;
  const tick = tickOf(inputs[0].result);
  const odd = inputs.find((i) => i.result.series.length > 0 && Math.abs(tickOf(i.result) - tick) > 1e-9);
  if (odd) fail(`Expected one series interval in every result, got ${tick} s in ${inputs[0].source} and ${tickOf(odd.result)} s in ${odd.source}`);
  const z0 = Math.min(...inputs.map((i) => zero(i.result)));
  const offsets = inputs.map((i) => Math.round((zero(i.result) - z0) / (tick * 1000)));

  const series = mergeSeries(inputs.map((i) => i.result.series), offsets, tick);
  const results = inputs.map((i) => i.result);
  const histNames = [...new Set(results.flatMap((r) => Object.keys(r.histograms ?? {})))];
  const merged = Object.fromEntries(histNames.map((n) => [n, mergeEncoded(results.map((r) => r.histograms?.[n] ?? ''))]));
  const hist = (n: string) => merged[n] ?? newHistogram();
  const failures = mergeFailures(results.map((r) => r.failures));
  const attempts = sumBy(results, (r) => r.totals.attempts);
  const successes = sumBy(results, (r) => r.totals.successes);
  const totals: BenchResult['totals'] = {
    attempts,
    opened: sumBy(results, (r) => r.totals.opened),
    successes,
    failures: sumBy(failures, (b) => b.count),
    successRate: attempts > 0 ? Math.round((successes / attempts) * 1e6) / 1e6 : 0,
    peakOpen: Math.max(series.reduce((m, p) => Math.max(m, p.open), 0), ...results.map((r) => r.totals.peakOpen)),
    messagesSent: sumBy(results, (r) => r.totals.messagesSent),
    messagesReceived: sumBy(results, (r) => r.totals.messagesReceived),
  };
  const latencyMs: BenchResult['latencyMs'] = {
    connect: summarize(hist('connect')),
    handshake: summarize(hist('handshake')),
    firstMessage: summarize(hist('firstMessage')),
    message: summarize(hist('message')),
    startLag: summarize(hist('startLag')),
  };
  const starts = results.map((r) => Date.parse(r.startedAt));
  const ends = results.map((r, k) => starts[k] + r.durationMs);
  const evidence = mergeEvidence(results, latencyMs.connect, Math.min(...starts), Math.max(...ends) - Math.min(...starts), attempts, successes, failures);
  const { diagnosis, perPart } = diagnoseParts(results.map((r, k) => ({ label: labels[k], evidence: r.evidence })), attempts, totals.failures);
  const parts: MergedPart[] = results.map((r, k) => ({
    label: labels[k],
    hostname: r.machine?.hostname,
    file: inputs[k].source,
    segment: r.segment ? { index: r.segment.index, count: r.segment.count } : undefined,
    clock: r.clock,
    offsetS: Math.round(offsets[k] * tick * 1000) / 1000,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    stages: r.stages,
    plan: r.plan,
    totals: r.totals,
    failures: r.failures,
    evidence: r.evidence,
    diagnosis: perPart[k],
  }));
  const thresholds = [...new Set([...results.flatMap((r) => r.thresholds.map((t) => t.expression)), ...(opts.thresholds ?? [])])];
  thresholds.forEach(parseThreshold);
  const base = { totals, latencyMs };
  const stages = scenario && !opts.partial ? scenario : sumStages(results.map((r) => r.stages));
  const result: BenchResult = {
    schema: 'floodgate.bench/1',
    target: results[0].target,
    startedAt: new Date(Math.min(...starts)).toISOString(),
    durationMs: Math.round(Math.max(...ends) - Math.min(...starts)),
    stages,
    plan: mergePlans(results.map((r) => r.plan), labels),
    totals,
    latencyMs,
    correctedHandshakeMs: summarize(hist('correctedHandshake')),
    histograms: Object.fromEntries(Object.entries(merged).map(([k, h]) => [k, encodeHistogram(h)])),
    series,
    failures,
    thresholds: checkThresholds(base, thresholds),
    evidence,
    diagnosis,
    clock: { startAt: new Date(z0).toISOString(), source: results.every((r) => r.clock?.source === 'redis') ? 'redis' : results.every((r) => r.clock?.source === 'start-at') ? 'start-at' : 'local', runId: results[0].clock?.runId },
    parts,
  };
  // the same rule as one machine's run: failures fail it unless thresholds decide
  result.exit = benchExit(result);
  return result;
}

/** Labels as given (`--label`, else the hostname, else the file name), made unique with the segment or position. */
function uniqueLabels(inputs: MergeInput[]): string[] {
  const raw = inputs.map((i) => i.result.machine?.label ?? basename(i.source).replace(/\.json$/, ''));
  return raw.map((l, k) => {
    if (raw.filter((x) => x === l).length === 1) return l;
    const s = inputs[k].result.segment;
    return s ? `${l} #${s.index}/${s.count}` : `${l} #${k + 1}`;
  });
}

/** Sums the series interval by interval, each shifted by its offset (in intervals); percentiles from the merged interval histograms. */
export function mergeSeries(all: SeriesPoint[][], offsets: number[], tick: number): SeriesPoint[] {
  const buckets = new Map<number, SeriesPoint[]>();
  all.forEach((series, k) => {
    for (const p of series) {
      const b = Math.round(p.t / tick) + offsets[k];
      let list = buckets.get(b);
      if (!list) buckets.set(b, (list = []));
      list.push(p);
    }
  });
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([b, list]) => {
    const p: SeriesPoint = {
      t: Math.round(b * tick * 1000) / 1000,
      open: sumBy(list, (x) => x.open),
      attempts: sumBy(list, (x) => x.attempts),
      successes: sumBy(list, (x) => x.successes),
      failures: sumBy(list, (x) => x.failures),
      handshakeP50: 0,
      handshakeP99: 0,
    };
    const withSamples = list.filter((x) => x.successes > 0);
    if (withSamples.every((x) => x.handshakeHist)) {
      const h = newHistogram();
      for (const x of withSamples) h.add(decodeHistogram(x.handshakeHist!));
      const s = summarize(h);
      p.handshakeP50 = s.p50;
      p.handshakeP99 = s.p99;
      if (h.totalCount > 0) p.handshakeHist = encodeHistogram(h);
    } else {
      // results from before interval histograms were kept: the highest is an upper bound
      p.handshakeP50 = Math.max(0, ...withSamples.map((x) => x.handshakeP50));
      p.handshakeP99 = Math.max(0, ...withSamples.map((x) => x.handshakeP99));
    }
    return p;
  });
}

export function mergeFailures(all: FailureBucket[][]): FailureBucket[] {
  const buckets = new Map<string, FailureBucket>();
  for (const list of all) {
    for (const b of list) {
      const have = buckets.get(b.kind);
      if (!have) buckets.set(b.kind, { ...b, retryAfter: b.retryAfter ? [...b.retryAfter] : undefined });
      else {
        have.count += b.count;
        for (const r of b.retryAfter ?? []) if (!have.retryAfter?.includes(r) && (have.retryAfter?.length ?? 0) < 20) (have.retryAfter ??= []).push(r);
      }
    }
  }
  const out = [...buckets.values()].sort((a, b) => b.count - a.count);
  for (const f of out) if (f.retryAfter === undefined) delete f.retryAfter;
  return out;
}

/** Stage by stage: connections and rates add up (for plain runs or a partial merge). */
function sumStages(all: Stage[][]): Stage[] {
  const n = Math.max(...all.map((s) => s.length));
  return Array.from({ length: n }, (_, i) => {
    const here = all.map((s) => s[i]).filter(Boolean);
    const rate = here.some((s) => s.rate !== undefined) ? Math.round(sumBy(here, (s) => s.rate ?? 0) * 1e6) / 1e6 : undefined;
    const rampTo = here.some((s) => s.rampTo !== undefined) ? Math.round(sumBy(here, (s) => s.rampTo ?? s.rate ?? 0) * 1e6) / 1e6 : undefined;
    const st: Stage = { connections: sumBy(here, (s) => s.connections), durationMs: Math.max(...here.map((s) => s.durationMs)) };
    if (rate !== undefined) st.rate = rate;
    if (rampTo !== undefined) st.rampTo = rampTo;
    return st;
  });
}

function mergePlans(plans: PlanSummary[], labels: string[]): PlanSummary {
  const limits = plans.map((p) => p.fdLimitPerProcess).filter((x): x is number => x !== undefined);
  const ranges = [...new Set(plans.map((p) => json(p.portRange)))];
  return {
    workers: sumBy(plans, (p) => p.workers),
    connections: sumBy(plans, (p) => p.connections),
    perWorker: plans.flatMap((p) => p.perWorker),
    fdLimitPerProcess: limits.length > 0 ? Math.min(...limits) : undefined,
    sourceIps: plans.flatMap((p) => p.sourceIps),
    portRange: ranges.length === 1 ? plans[0].portRange : undefined,
    portsPerSourceIp: Math.min(...plans.map((p) => p.portsPerSourceIp)),
    estimatedMemoryBytes: sumBy(plans, (p) => p.estimatedMemoryBytes),
    warnings: plans.flatMap((p, k) => p.warnings.map((w) => `${labels[k]}: ${w}`)),
  };
}

function addCounters(all: KernelCounters[]): KernelCounters {
  const out: KernelCounters = {};
  for (const c of all) for (const [k, v] of Object.entries(c ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

const addStates = (all: Record<string, number>[]): Record<string, number> => addCounters(all);

/**
 * The whole run's evidence, for `bench compare` and as a summary: counters and socket states are
 * sums over the machines (each machine's own stay in `parts[].evidence`, and the diagnosis reads those).
 */
function mergeEvidence(results: BenchResult[], connect: ReturnType<typeof summarize>, startedAt: number, durationMs: number, attempts: number, successes: number, failures: FailureBucket[]): RunEvidence {
  const ev = results.map((r) => r.evidence);
  const limits = ev.map((e) => e.generator.fdLimitPerProcess).filter((x): x is number => x !== undefined);
  const ranges = [...new Set(ev.map((e) => json(e.generator.portRange)))];
  const settings = [...new Set(ev.map((e) => json(e.settings)))];
  const slow = sumBy(ev, (e) => e.connectLatencyMs?.atOrAboveOneSecond ?? 0);
  return {
    target: { ...ev[0].target, local: ev.every((e) => e.target.local) },
    startedAt: new Date(startedAt).toISOString(),
    durationMs,
    attempts,
    successes,
    failures,
    kernel: { before: addCounters(ev.map((e) => e.kernel.before)), after: addCounters(ev.map((e) => e.kernel.after)), delta: addCounters(ev.map((e) => e.kernel.delta)) },
    socketStates: {
      before: addStates(ev.map((e) => e.socketStates.before)),
      peak: addStates(ev.map((e) => e.socketStates.peak)),
      after: addStates(ev.map((e) => e.socketStates.after)),
      samples: sumBy(ev, (e) => e.socketStates.samples ?? 0),
      establishedSamples: sumBy(ev, (e) => e.socketStates.establishedSamples ?? 0),
      // each machine sampled on its own: the widest spacing any of them got
      meanIntervalMs: maxOf(ev.map((e) => e.socketStates.meanIntervalMs)),
      maxIntervalMs: maxOf(ev.map((e) => e.socketStates.maxIntervalMs)),
      budgetShare: ev[0].socketStates.budgetShare,
      cpuMs: sumBy(ev, (e) => e.socketStates.cpuMs ?? 0),
    },
    listener: ev.find((e) => e.listener)?.listener,
    generator: {
      processes: sumBy(ev, (e) => e.generator.processes),
      fdLimitPerProcess: limits.length > 0 ? Math.min(...limits) : undefined,
      peakFdsPerProcess: Math.max(0, ...ev.map((e) => e.generator.peakFdsPerProcess ?? 0)),
      sourceIps: ev.flatMap((e) => e.generator.sourceIps),
      portRange: ranges.length === 1 ? ev[0].generator.portRange : undefined,
      timeWaitToTarget: sumBy(ev, (e) => e.generator.timeWaitToTarget ?? 0),
    },
    server: ev.find((e) => e.server)?.server,
    connectLatencyMs: connect.count > 0 ? { p50: connect.p50, p99: connect.p99, max: connect.max, atOrAboveOneSecond: slow } : undefined,
    settings: settings.length === 1 ? ev[0].settings : undefined,
  };
}

/** The largest of the numbers given, undefined when none is. */
function maxOf(xs: Array<number | undefined>): number | undefined {
  const ns = xs.filter((x): x is number => x !== undefined);
  return ns.length > 0 ? Math.max(...ns) : undefined;
}
