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
  /** Host-wide kernel counters (/proc/net/netstat + snmp) before and after, and the delta. */
  kernel: { before: KernelCounters; after: KernelCounters; delta: KernelCounters };
  /** TCP socket states toward the target port: before, peak during the run, after. */
  /** `peak` is over `samples` reads, spaced so that sampling takes at most 5% of a core (wider with more sockets). */
  socketStates: { before: Record<string, number>; peak: Record<string, number>; after: Record<string, number>; samples?: number };
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
  };
  server?: { pid: number; fdLimit?: number; peakFds?: number; fdsAtEnd?: number };
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
    tcpAbortOnOverflow?: number;
    ipLocalPortRange?: [number, number];
  };
}
