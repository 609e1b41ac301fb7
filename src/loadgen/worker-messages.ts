import type { FailureBucket } from '../doctor/run-evidence.js';
import type { Teardown } from './types.js';

/** Parent → worker: everything one worker process needs for its share of the plan. */
export interface WorkerConfig {
  index: number;
  workers: number;
  target: { kind: 'ws' | 'wss' | 'tcp'; host: string; port: number; path: string; hostHeader: string };
  protocol?: string;
  headers?: Record<string, string>;
  /** Epoch ms at which offset 0 happens (shared by all workers). */
  startAt: number;
  /** Planned start of each of this worker's connections, ms after startAt (sorted). */
  offsets: number[];
  /** Global index of this worker's first connection; the next ones step by `workers` (round-robin source IPs). */
  sourceIps: string[];
  /** Epoch ms at which to tear down; null = until told to stop. */
  endAt: number | null;
  /** Expected interval between this worker's arrivals, µs (coordinated-omission correction); 0 = burst. */
  expectedIntervalUs: number;
  subscribe?: string;
  /** Raw text frame sent once right after open (BenchOptions.openText). */
  openText?: string;
  publishRate?: number;
  payload?: string;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  teardown: Teardown;
  tickMs: number;
  /** wss:// without certificate verification (--insecure). */
  insecure?: boolean;
}

export type ParentMessage = { type: 'start'; config: WorkerConfig } | { type: 'stop' };

export interface TickMessage {
  type: 'tick';
  worker: number;
  /** Tick number since startAt. */
  n: number;
  open: number;
  attempts: number;
  successes: number;
  failures: number;
  handshake: string;
  fds: number;
  /** Failures of this tick by kind (`upgrade.status_503`: 12). */
  failureKinds: Record<string, number>;
  /** Start lag of this tick's attempts: sum and max, ms (planned start → actual start). */
  lagSumMs: number;
  lagMaxMs: number;
  /** Planned starts that are due but not started yet: the generator is behind its schedule. */
  behind: number;
  /** CPU this worker used during the tick, as a share of one core (1 = a full core). */
  cpu: number;
}

/** Worker → parent when it starts tearing down its connections (so the CLI can say so). */
export interface ClosingMessage {
  type: 'closing';
  worker: number;
  open: number;
}

export interface DoneMessage {
  type: 'done';
  worker: number;
  attempts: number;
  opened: number;
  held: number;
  peakOpen: number;
  failures: FailureBucket[];
  messagesSent: number;
  messagesReceived: number;
  peakFds: number;
  histograms: Record<string, string>;
  /** Most attempts of this worker started and not yet answered (connecting or waiting for the 101) at once. */
  peakInFlight?: number;
  /** Epoch ms of the last successful upgrade, and of the first attempt closed or reset before any answer. */
  lastOpenAt?: number;
  firstEarlyCloseAt?: number;
  /** A Floodgate `welcome` frame arrived on some connection: the target is a Floodgate gateway. */
  welcome?: boolean;
}

export type WorkerMessage = TickMessage | DoneMessage | ClosingMessage | { type: 'ready'; worker: number; fdLimit?: number };
