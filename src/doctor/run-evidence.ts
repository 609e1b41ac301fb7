import type { KernelCounters } from '../system/kernel-counters.js';

/**
 * What a `floodgate bench` run records so that `floodgate doctor --run result.json` can say
 * why connections failed. The load generator fills it (result.evidence); the doctor reads it.
 * This file is the contract between the two: change both sides together.
 */

/** Phase in which an attempt failed. */
export type FailurePhase = 'connect' | 'upgrade' | 'handshake' | 'frames' | 'session' | 'generator';

/** Who caused a failure: the generator's own limits, or the server / network. */
export type FailureSide = 'generator' | 'server';

/**
 * Failure kind keys, `phase.detail`: e.g. `connect.ECONNREFUSED`, `connect.ETIMEDOUT`,
 * `connect.EADDRNOTAVAIL`, `connect.EMFILE`, `connect.ECONNRESET`, `upgrade.status_503`,
 * `upgrade.timeout`, `upgrade.closed`, `handshake.bad_accept`, `handshake.missing_upgrade`,
 * `handshake.missing_connection`, `handshake.bad_protocol`, `handshake.bad_extension`,
 * `frames.close_4008`, `frames.invalid_utf8`, `frames.protocol_error`, `session.ECONNRESET`,
 * `session.unexpected_close`.
 */
export type FailureKind = `${FailurePhase}.${string}`;

export interface FailureBucket {
  kind: FailureKind;
  phase: FailurePhase;
  side: FailureSide;
  count: number;
  /** One raw example (error message, status line, close reason) so nothing is "Unexpected" without detail. */
  example: string;
  /** For upgrade.status_503: the Retry-After values seen. */
  retryAfter?: number[];
}

export interface RunEvidence {
  target: { url: string; host: string; port: number; local: boolean };
  startedAt: string;
  durationMs: number;
  attempts: number;
  successes: number;
  failures: FailureBucket[];
  /** Kernel counters (/proc/net/netstat + snmp) before and after, and the delta. */
  kernel: {
    before: KernelCounters;
    after: KernelCounters;
    delta: KernelCounters;
    /**
     * Whose counters these are: `host` when the generator ran in the host's network namespace (every
     * process on the machine adds to them), `netns` when it ran in a namespace of its own (only the
     * processes in that namespace add to them). Absent in results from older versions: treat as `host`.
     */
    scope?: 'host' | 'netns';
  };
  /**
   * TCP socket states toward the target port: before, peak during the run, after. `peak` is over
   * `samples` reads, paced so that sampling costs at most `budgetShare` of the generator's CPU
   * (further apart when reads are dearer); `establishedSamples` of them counted ESTABLISHED (the
   * others, through sock_diag, left those rows out: the forced reads at the fullest moments count
   * them). `meanIntervalMs`/`maxIntervalMs`: the spacing the run actually got. `cpuMs`: CPU spent
   * sampling (socket tables, the accept queue, the server's /proc files), its helper processes included.
   */
  socketStates: {
    before: Record<string, number>;
    peak: Record<string, number>;
    after: Record<string, number>;
    samples?: number;
    establishedSamples?: number;
    meanIntervalMs?: number;
    maxIntervalMs?: number;
    budgetShare?: number;
    via?: 'sock_diag' | 'proc';
    cpuMs?: number;
  };
  /** The target's listening socket when it is on this machine (ss -ltn / /proc/net/tcp). */
  listener?: { backlog?: number; somaxconn?: number; maxAcceptQueue?: number };
  generator: {
    processes: number;
    fdLimitPerProcess?: number;
    peakFdsPerProcess?: number;
    sourceIps: string[];
    portRange?: [number, number];
    /** TIME_WAIT sockets toward the target at the end of the run. */
    timeWaitToTarget?: number;
    /** Most attempts started and not yet answered at once (sum of each worker's peak: an upper bound with several). */
    peakInFlight?: number;
  };
  /** With --server-pid: its fds, and when it stopped existing (direct evidence that the server died). */
  server?: {
    pid: number;
    fdLimit?: number;
    /** Open fds when the run started (the server's own files, listeners, logs: what connections do not use). */
    fdsAtStart?: number;
    peakFds?: number;
    fdsAtEnd?: number;
    /** ms after the run started at which the pid was first seen gone (or a zombie). */
    exitedAtMs?: number;
    /** CPU the server used between samples, in cores (1 = one core busy), and its state (R running, S sleeping…). */
    cpu?: { fromMs: number; toMs: number; cores: number; state: string }[];
  };
  /** Per-interval progress (1 s by default): attempts started, upgrades completed, failures. */
  series?: { t: number; attempts: number; successes: number; failures: number }[];
  /** Order of outcomes, ms after the run started: the last successful upgrade and the first attempt closed before an answer. */
  order?: { lastOpenMs?: number; firstEarlyCloseMs?: number };
  /** The target answered with a Floodgate `welcome` frame: it is a Floodgate gateway (fixes can name its settings). */
  floodgate?: boolean;
  /** Connect latency facts that reveal SYN drops (1 s, 3 s retransmit steps). */
  connectLatencyMs?: { p50: number; p99: number; max: number; atOrAboveOneSecond: number };
  /**
   * Kernel settings at the start of the run (Linux /proc/sys of the generator's network namespace),
   * so the diagnosis can tell "SYN queue full, cookies off" from "cookies answered the burst".
   * Optional: added by the doctor side; `readRunSettings()` in src/system/sysctl-set.ts fills it.
   */
  settings?: {
    somaxconn?: number;
    tcpMaxSynBacklog?: number;
    tcpSyncookies?: number;
    tcpTwReuse?: number;
    /** Linux 6.13+: ms after its close before tw_reuse may hand a TIME_WAIT port to a new connect. */
    tcpTwReuseDelay?: number;
    tcpAbortOnOverflow?: number;
    ipLocalPortRange?: [number, number];
    /** Packets each CPU's input queue holds before dropping (host-wide; not readable inside a network namespace). */
    netdevMaxBacklog?: number;
  };
}
