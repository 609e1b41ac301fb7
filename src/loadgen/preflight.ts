import { availableParallelism, freemem } from 'node:os';
import { FloodgateError } from '../errors.js';
import { readFdLimits } from '../system/limits.js';
import { readSysctl } from '../system/proc-files.js';
import { readPortStates } from '../system/socket-states.js';
import type { PlanSummary } from './types.js';

/** fds a worker keeps for itself (stdio, IPC, libuv, /proc reads). */
export const FD_RESERVE = 64;
/** Budget per held connection and per worker process, for the memory check. */
export const BYTES_PER_CONNECTION = 6 * 1024;
export const BYTES_PER_WORKER = 60 * 1024 * 1024;
/**
 * Connections one worker process takes before another is added, when `workers` is not given.
 * One process opens ~1,000–2,000 connections/s per core here and holds tens of thousands; a
 * process per core costs ~45 MB each and IPC for runs that one process carries easily.
 */
export const CONNECTIONS_PER_WORKER = 16_000;

export interface PreflightInput {
  connections: number;
  workers?: number;
  fdLimit?: number;
  sourceIps: string[];
  targetPort: number;
  force?: boolean;
  /** Sockets in TIME_WAIT toward the target now, when the caller has just read them. */
  timeWait?: number;
}

export function readPortRange(): [number, number] | undefined {
  const m = /(\d+)\s+(\d+)/.exec(readSysctl('net.ipv4.ip_local_port_range') ?? '');
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/**
 * Checks the plan against the generator's own limits before any socket is opened: fds per
 * process (hard RLIMIT_NOFILE, which Node raises the soft limit to), ephemeral ports per
 * (source IP, destination), and memory. Refuses with FG_ERR_BENCH_PLAN naming the limit and the
 * overshoot, unless `force`; close calls become warnings.
 */
export function preflight(input: PreflightInput): PlanSummary {
  const warnings: string[] = [];
  const refusals: string[] = [];
  const fdLimit = input.fdLimit ?? readFdLimits('self').hard ?? readFdLimits('self').soft;
  const usable = fdLimit === undefined ? Infinity : Math.max(1, fdLimit - FD_RESERVE);
  let workers = input.workers ?? Math.min(availableParallelism() * 4, Math.ceil(input.connections / CONNECTIONS_PER_WORKER));
  if (input.workers === undefined) workers = Math.max(workers, Math.ceil(input.connections / usable));
  workers = Math.max(1, Math.min(workers, input.connections));
  // without an explicit worker count, a run one worker carries runs inside this process
  const inProcess = input.workers === undefined && workers === 1;
  const perWorker = Array.from({ length: workers }, (_, i) => Math.floor(input.connections / workers) + (i < input.connections % workers ? 1 : 0));
  const maxPer = perWorker[0];
  if (fdLimit !== undefined && maxPer + FD_RESERVE > fdLimit) {
    const need = Math.ceil(input.connections / usable);
    refusals.push(`fd limit: ${fmt(maxPer)} connections in one process need ${fmt(maxPer + FD_RESERVE)} fds, the per-process limit is ${fmt(fdLimit)} (over by ${fmt(maxPer + FD_RESERVE - fdLimit)}); use --workers ${need} or more, or raise ulimit -n`);
  } else if (fdLimit !== undefined && maxPer + FD_RESERVE > fdLimit * 0.9) {
    warnings.push(`fd limit: ${fmt(maxPer)} connections per process use ${Math.round(((maxPer + FD_RESERVE) / fdLimit) * 100)}% of the ${fmt(fdLimit)} fd limit`);
  }

  const portRange = readPortRange();
  const ports = portRange ? portRange[1] - portRange[0] + 1 : 28_232;
  const ips = Math.max(1, input.sourceIps.length);
  const perIp = Math.ceil(input.connections / ips);
  const timeWait = input.timeWait ?? readPortStates(input.targetPort).states.TIME_WAIT ?? 0;
  const freePorts = ports - (input.sourceIps.length === 0 ? timeWait : 0);
  if (perIp > ports) {
    refusals.push(`ports: ${fmt(perIp)} connections per source IP need ${fmt(perIp)} ephemeral ports, ip_local_port_range gives ${fmt(ports)} per (source IP, destination) (over by ${fmt(perIp - ports)}); use --source-ips with at least ${Math.ceil(input.connections / ports)} addresses (e.g. 127.0.0.2-127.0.0.${1 + Math.ceil(input.connections / ports)} on loopback)`);
  } else if (perIp > freePorts * 0.9) {
    warnings.push(`ports: ${fmt(perIp)} connections per source IP against ${fmt(ports)} ephemeral ports${timeWait > 0 ? `, ${fmt(timeWait)} already in TIME_WAIT toward port ${input.targetPort}` : ''}; expect EADDRNOTAVAIL`);
  }
  if (timeWait > 1000) warnings.push(`${fmt(timeWait)} sockets in TIME_WAIT toward port ${input.targetPort} before the run (they hold ports for 60 s)`);

  const mem = input.connections * BYTES_PER_CONNECTION + (inProcess ? 0 : workers) * BYTES_PER_WORKER;
  const free = freemem();
  if (mem > free) refusals.push(`memory: the plan needs about ${fmt(Math.round(mem / 1048576))} MiB, ${fmt(Math.round(free / 1048576))} MiB free (over by ${fmt(Math.round((mem - free) / 1048576))} MiB)`);
  else if (mem > free * 0.5) warnings.push(`memory: the plan needs about ${fmt(Math.round(mem / 1048576))} MiB of ${fmt(Math.round(free / 1048576))} MiB free`);

  if (refusals.length > 0 && !input.force) {
    throw new FloodgateError('FG_ERR_BENCH_PLAN', `The plan for ${fmt(input.connections)} connections cannot fit: ${refusals.join('; ')}. (\`--force\`, or the \`force\` option of run(), runs it anyway.)`, { refusals });
  }
  for (const r of refusals) warnings.push(`forced past the pre-flight: ${r}`);
  return {
    workers,
    inProcess,
    connections: input.connections,
    perWorker,
    fdLimitPerProcess: fdLimit,
    sourceIps: input.sourceIps,
    portRange,
    portsPerSourceIp: ports,
    estimatedMemoryBytes: mem,
    warnings,
  };
}
