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
}

export interface ThresholdResult {
  expression: string;
  metric: string;
  actual: number;
  ok: boolean;
}

export interface PlanSummary {
  workers: number;
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
  /** The diagnosis `doctor --run` prints for this run: causes with their evidence lines, and notes. */
  diagnosis?: BenchDiagnosis;
  /** The process exit code for CI and why (see EXIT_RULE in exit-code.ts). */
  exit?: { code: 0 | 1; reason: string };
}

export interface BenchDiagnosis {
  headline: string;
  causes: { id: string; side: string; failures: number; verdict: string; evidence: string[]; fix?: string }[];
  notes: string[];
}
