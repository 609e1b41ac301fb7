import type { FailureBucket, RunEvidence } from '../doctor/run-evidence.js';

/** One stage of a scenario: grow to `connections` open (burst or at `rate`/s, ramping to `rampTo`), then hold `durationMs`. */
export interface Stage {
  connections: number;
  /** Arrivals per second; omitted = burst (all at once). */
  rate?: number;
  /** Linear ramp of the arrival rate from `rate` to `rampTo` over the stage. */
  rampTo?: number;
  /** Hold time after the last planned arrival of the stage. */
  durationMs: number;
}

export type Teardown = 'clean' | 'reset';

/** Options of `run()`; the CLI maps its flags onto these. */
export interface BenchOptions {
  url: string;
  stages?: Stage[];
  connections?: number;
  rate?: number;
  rampTo?: number;
  durationMs?: number;
  holdForever?: boolean;
  maxDurationMs?: number;
  workers?: number;
  sourceIps?: string[] | string;
  protocol?: string;
  headers?: Record<string, string>;
  subscribe?: string;
  /** Raw text frame sent once right after open, instead of a subscribe (e.g. Socket.IO's namespace connect `40`). */
  openText?: string;
  /** Messages per second per connection after open (Floodgate publish, or raw text with `payload`). */
  publishRate?: number;
  /** Raw text frame to send instead of a Floodgate publish (for non-Floodgate servers). */
  payload?: string;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  teardown?: Teardown;
  thresholds?: string[];
  serverPid?: number;
  /** Override the per-process fd limit used by the pre-flight (e.g. to plan for another machine). */
  fdLimit?: number;
  /** Run even when the pre-flight says the plan cannot fit (to observe the failures). */
  force?: boolean;
  /** Emit `tick` every this many ms (default 1000). */
  tickMs?: number;
  /** Run only segment i of N of the scenario (`"2/4"` or `{ index: 2, count: 4 }`): see segment.ts. */
  segment?: string | { index: number; count: number };
  /** Name of this machine in merged reports (default: the hostname). */
  label?: string;
  /** Start at this wall-clock time (ISO 8601 or epoch ms); with `sync`, on Redis's clock. */
  startAt?: string | number;
  /** `redis://host:port/<run-id>`: wait for all segments at a Redis barrier, start together, store the result there. */
  sync?: string;
  /** How long to wait at the barrier for the other segments (default 60 s). */
  syncTimeoutMs?: number;
  /** wss://: accept any certificate (self-signed test servers). Default: verify against the system CAs. */
  insecure?: boolean;
}

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface SeriesPoint {
  /** Seconds since the run started. */
  t: number;
  open: number;
  attempts: number;
  successes: number;
  failures: number;
  handshakeP50: number;
  handshakeP99: number;
  /** The interval's handshake histogram (compressed base64, µs), so merged runs get exact per-interval percentiles. */
  handshakeHist?: string;
  /** Connections the plan wanted started during this second (the schedule, for "kept the rate?"). */
  planned?: number;
  /** Failures of this second by kind (`upgrade.status_503`: 12). */
  failureKinds?: Record<string, number>;
  /** Start lag of this second's attempts (planned → actual start), mean and max ms. */
  lagMeanMs?: number;
  lagMaxMs?: number;
  /** Planned starts that were due and not started at the tick: the generator's own backlog. */
  behind?: number;
  /** Busiest worker's CPU in this second, share of one core. */
  cpu?: number;
}

export interface RunSettings {
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  teardown: Teardown;
  protocol?: string;
  /** Names only: header values may be secrets. */
  headerNames: string[];
  subscribe?: string;
  publishRate?: number;
  rawPayload: boolean;
  holdForever: boolean;
  maxDurationMs?: number;
  thresholds: string[];
  serverPid?: number;
}

/** Did the generator keep the requested arrival rate, and if not, why (from its own CPU, ports and fds). */
export interface PaceSummary {
  /** Highest arrival rate the plan asked for (per second); 0 = bursts only. */
  requestedPerSecond: number;
  /** Best per-second start rate reached while starts were due. */
  achievedPerSecond: number;
  startLagP50Ms: number;
  startLagP99Ms: number;
  /** Most planned starts that were due and not yet started at one tick. */
  maxBehind: number;
  /** Busiest worker's CPU at its peak (share of one core). */
  cpuPeak: number;
  keptUp: boolean;
  /** Why not, from the evidence: `cpu` (a worker saturated a core), `ports` (EADDRNOTAVAIL/EADDRINUSE), `fds` (EMFILE). */
  limitedBy: ('cpu' | 'ports' | 'fds')[];
  /** One sentence for the summary and the report, e.g. "+512/s while 1,000/s was asked, start lag p50 1.2 s: worker CPU 99%". */
  note?: string;
}

export interface ThresholdResult {
  expression: string;
  metric: string;
  actual: number;
  ok: boolean;
}

export interface PlanSummary {
  workers: number;
  /** The one worker ran inside the coordinator's process (no `workers` given and one was enough). */
  inProcess?: boolean;
  connections: number;
  perWorker: number[];
  fdLimitPerProcess?: number;
  sourceIps: string[];
  portRange?: [number, number];
  portsPerSourceIp: number;
  estimatedMemoryBytes: number;
  warnings: string[];
}

/** The `--json` result; schema documented in docs/bench.md. */
export interface BenchResult {
  schema: 'floodgate.bench/1';
  target: { url: string; kind: 'ws' | 'wss' | 'tcp'; host: string; port: number };
  startedAt: string;
  durationMs: number;
  stages: Stage[];
  plan: PlanSummary;
  totals: {
    attempts: number;
    opened: number;
    successes: number;
    failures: number;
    successRate: number;
    peakOpen: number;
    messagesSent: number;
    messagesReceived: number;
  };
  latencyMs: {
    connect: LatencySummary;
    handshake: LatencySummary;
    firstMessage: LatencySummary;
    message: LatencySummary;
    startLag: LatencySummary;
  };
  /** Coordinated-omission corrected handshake latency (only differs when a rate is set). */
  correctedHandshakeMs: LatencySummary;
  /** Compressed base64 HDR histograms (microseconds), for `bench compare` and re-analysis. */
  histograms: Record<string, string>;
  series: SeriesPoint[];
  failures: FailureBucket[];
  thresholds: ThresholdResult[];
  evidence: RunEvidence;
  /** The run's settings beyond the stages and the plan, for the report (absent in results from older versions). */
  settings?: RunSettings;
  /** Whether the generator kept its schedule (absent in results from older versions). */
  pace?: PaceSummary;
  /** The diagnosis `doctor --run` prints for this run: causes with their evidence lines, and notes. */
  diagnosis?: BenchDiagnosis;
  /** The process exit code for CI and why (see EXIT_RULE in exit-code.ts). */
  exit?: { code: 0 | 1; reason: string };
  /** The machine that ran it: `--label` (default the hostname). Absent on merged results and on results from before segments existed. */
  machine?: { label: string; hostname: string };
  /** Time zero of the series and how it was agreed (`local`, `--start-at`, or a Redis barrier with this machine's clock skew). */
  clock?: ClockInfo;
  /** Present when this run was one segment of a scenario (`--segment i/N`): `stages` above are its share, `scenario` the whole. */
  segment?: { index: number; count: number; scenario: Stage[] };
  /** Present on a merged result (`bench merge`): one entry per machine, with its own evidence and diagnosis. */
  parts?: MergedPart[];
}

export interface BenchDiagnosis {
  headline: string;
  /** On a merged run (`bench merge`): the machines whose own evidence showed the cause. */
  causes: { id: string; side: string; failures: number; verdict: string; evidence: string[]; fix?: string; machines?: string[] }[];
  notes: string[];
}

export interface ClockInfo {
  /** Time zero of `series` (planned start of offset 0), ISO, on this machine's clock. */
  startAt: string;
  source: 'local' | 'start-at' | 'redis';
  /** Redis clock − this machine's clock, ms, and the round trip of the measurement. */
  skewMs?: number;
  rttMs?: number;
  runId?: string;
  /** Time spent waiting for the other segments at the barrier. */
  waitedMs?: number;
}

/** One machine's share of a merged run, as `bench merge` keeps it. */
export interface MergedPart {
  label: string;
  hostname?: string;
  file?: string;
  segment?: { index: number; count: number };
  clock?: ClockInfo;
  /** Where this part's series starts in the merged series, s (0 with a synchronized start). */
  offsetS: number;
  startedAt: string;
  durationMs: number;
  stages: Stage[];
  plan: PlanSummary;
  totals: BenchResult['totals'];
  failures: FailureBucket[];
  evidence: RunEvidence;
  diagnosis?: BenchResult['diagnosis'];
}
