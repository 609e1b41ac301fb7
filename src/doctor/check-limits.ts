import { instanceCapacity } from './capacity-plan.js';
import type { Finding } from './finding.js';
import { formatBytes, formatCount } from './format.js';
import type { OsSnapshot } from './os-snapshot.js';

/** What the user wants to hold; every field optional (`doctor` without targets only describes). */
export interface Targets {
  connections?: number;
  /** New connections per second to one destination. */
  ratePerSecond?: number;
  /** The listen backlog the server will ask for. */
  backlog?: number;
}

export interface CheckOptions {
  bytesPerConnection: number;
  memoryOverhead: number;
  reservedFds: number;
  /** Source IPs a client spreads over (1 = one (source, destination) pair). */
  sourceIps: number;
}

export interface Implications {
  usablePorts?: number;
  /** Sustained new connections per second to one destination from one source IP. */
  maxNewConnectionsPerSecond?: number;
  backlog: { requested: number; effective?: number; somaxconn?: number };
  perProcess: { fdCap?: number; memoryCap: number; connections: number; limitedBy: 'memory' | 'fds' };
  perMachine: { fileMax?: number; conntrackMax?: number; memoryCap: number; connections: number };
}

export interface LimitsReport {
  snapshot: OsSnapshot;
  targets: Targets;
  implications: Implications;
  findings: Finding[];
  /** False when a target cannot be met with these limits (the CLI exits non-zero). */
  targetsMet: boolean;
}

/** Cumulative waits of a Linux client whose SYN is dropped: linear 1 s steps first on 6.x kernels. */
export function synRetrySteps(linear: number | undefined): string {
  const rtos: number[] = [];
  let rto = 1;
  for (let i = 0; i < 6; i++) {
    if (linear !== undefined && i < linear) rtos.push(1);
    else {
      rtos.push(rto);
      rto *= 2;
    }
  }
  let t = 0;
  return `${rtos.map((r) => `${(t += r)} s`).join(', ')}…`;
}

/** What `floodgate serve` asks for by default (`backlog: max`) when somaxconn cannot be read. */
const SERVE_FALLBACK_BACKLOG = 4096;

/** Turns the raw limits into implications and findings, against optional targets. */
export function checkLimits(s: OsSnapshot, targets: Targets, opts: CheckOptions): LimitsReport {
  const findings: Finding[] = [];
  const linux = s.linux;

  // --- ephemeral ports and TIME_WAIT -------------------------------------------------------
  let usablePorts: number | undefined;
  let maxRate: number | undefined;
  if (s.portRange) {
    usablePorts = s.portRange[1] - s.portRange[0] + 1;
    maxRate = Math.floor(usablePorts / s.timeWaitSeconds);
    const perIps = maxRate * opts.sourceIps;
    const evidence = [
      `${s.platform === 'darwin' ? 'net.inet.ip.portrange.first/last' : 'net.ipv4.ip_local_port_range'} = ${s.portRange[0]}–${s.portRange[1]} → ${formatCount(usablePorts)} ports per (source IP, destination)`,
      `TIME_WAIT = ${s.timeWaitSeconds} s${s.platform === 'darwin' ? ` (2 × net.inet.tcp.msl ${s.mac?.tcpMslMs ?? 15000} ms)` : ' (fixed in the Linux kernel)'}`,
    ];
    if (targets.ratePerSecond !== undefined && targets.ratePerSecond > perIps) {
      const ipsNeeded = Math.ceil((targets.ratePerSecond * s.timeWaitSeconds) / usablePorts);
      findings.push({
        id: 'ports.rate', severity: 'error',
        title: `A client can open only ≈${formatCount(perIps)} new connections/s to one destination from ${opts.sourceIps} source IP(s); the target is ${formatCount(targets.ratePerSecond)}/s.`,
        evidence: [...evidence, `${formatCount(targets.ratePerSecond)}/s × ${s.timeWaitSeconds} s = ${formatCount(targets.ratePerSecond * s.timeWaitSeconds)} ports in TIME_WAIT at steady state`],
        fix: `reuse connections; spread over ≥ ${ipsNeeded} source IPs (127.0.0.2… on loopback); widen the port range (floodgate tune --target-rate ${targets.ratePerSecond}/s); tcp_tw_reuse=1 lets outbound connects reuse TIME_WAIT ports.`,
      });
    } else {
      findings.push({
        id: 'ports.rate', severity: 'info',
        title: `Max sustained new connections to one destination: ≈${formatCount(maxRate)}/s per source IP (usable ports / TIME_WAIT).`,
        evidence,
      });
    }
  }
  if (linux?.tcpTwReuse !== undefined) {
    const meaning = ['off', 'on for outbound connections', 'on for loopback only (the default)'][linux.tcpTwReuse] ?? 'unknown value';
    findings.push({
      id: 'ports.tw-reuse', severity: targets.ratePerSecond !== undefined && maxRate !== undefined && targets.ratePerSecond > maxRate * opts.sourceIps && linux.tcpTwReuse !== 1 ? 'warn' : 'info',
      title: `net.ipv4.tcp_tw_reuse = ${linux.tcpTwReuse}: TIME_WAIT reuse ${meaning}.`,
      evidence: ['it only helps the connecting side (clients, proxies, load generators), never a listener'],
      fix: linux.tcpTwReuse === 1 ? undefined : 'sysctl -w net.ipv4.tcp_tw_reuse=1 on client machines that open many short connections',
    });
  }
  if (linux?.tcpMaxTwBuckets !== undefined) {
    const steady = targets.ratePerSecond !== undefined ? targets.ratePerSecond * s.timeWaitSeconds : undefined;
    findings.push({
      id: 'ports.tw-buckets', severity: 'info',
      title: `At most ${formatCount(linux.tcpMaxTwBuckets)} TIME_WAIT sockets are kept (tcp_max_tw_buckets); beyond that they are destroyed at once and TCPTimeWaitOverflow counts them.`,
      evidence: steady !== undefined ? [`${formatCount(steady)} TIME_WAIT sockets at steady state for ${formatCount(targets.ratePerSecond!)}/s`] : [],
    });
  }
  if (linux?.tcpFinTimeout !== undefined) {
    findings.push({
      id: 'ports.fin-timeout', severity: 'info',
      title: `net.ipv4.tcp_fin_timeout = ${linux.tcpFinTimeout} s bounds FIN_WAIT2 only; it does not shorten TIME_WAIT (60 s).`,
      evidence: ['lowering it is a common but ineffective fix for port exhaustion'],
    });
  }

  // --- listen backlog ----------------------------------------------------------------------
  // Without --backlog, describe what `floodgate serve` does: `backlog: max` asks for somaxconn itself.
  const requested = targets.backlog ?? s.somaxconn ?? SERVE_FALLBACK_BACKLOG;
  const effective = s.somaxconn === undefined ? undefined : Math.min(requested, s.somaxconn);
  const somaxName = s.platform === 'darwin' ? 'kern.ipc.somaxconn' : 'net.core.somaxconn';
  if (effective !== undefined) {
    const capped = requested > effective;
    findings.push({
      id: 'backlog.effective',
      severity: capped && targets.backlog !== undefined ? 'error' : s.somaxconn! < 1024 ? 'warn' : 'ok',
      title: capped
        ? `A listen backlog of ${formatCount(requested)} is cut to ${formatCount(effective)} by ${somaxName}.`
        : targets.backlog === undefined
          ? `floodgate serve listens with backlog \`max\` = ${somaxName} = ${formatCount(s.somaxconn!)} (its default; a server started with a plain listen() gets Node's 511).`
          : `A listen backlog of ${formatCount(requested)} is effective in full (${somaxName} = ${formatCount(s.somaxconn!)}).`,
      evidence: [`effective backlog = min(requested ${formatCount(requested)}, ${somaxName} ${formatCount(s.somaxconn!)}) = ${formatCount(effective)}, fixed at listen()`],
      fix: capped
        ? `sysctl -w ${somaxName}=${requested} (floodgate tune --backlog ${requested}), then restart the server so it listens again`
        : s.somaxconn! < 1024 ? `raise ${somaxName} to 4096 so bursts fit in the accept queue` : undefined,
    });
  }
  if (linux?.tcpMaxSynBacklog !== undefined) {
    const low = effective !== undefined && linux.tcpMaxSynBacklog < effective && linux.tcpSyncookies === 0;
    findings.push({
      id: 'backlog.syn', severity: low ? 'warn' : 'info',
      title: `net.ipv4.tcp_max_syn_backlog = ${formatCount(linux.tcpMaxSynBacklog)} (half-open connections per listener when SYN cookies are off).`,
      evidence: [`net.ipv4.tcp_syncookies = ${linux.tcpSyncookies ?? 'unknown'}`],
      fix: low ? `raise net.ipv4.tcp_max_syn_backlog to ≥ ${effective} or enable tcp_syncookies` : undefined,
    });
  }
  if (linux?.tcpSyncookies !== undefined) {
    findings.push({
      id: 'backlog.syncookies', severity: linux.tcpSyncookies === 0 ? 'warn' : 'ok',
      title: linux.tcpSyncookies === 0
        ? `SYN cookies are off (tcp_syncookies = 0): a full SYN queue drops SYNs and clients retry after ${synRetrySteps(linux.tcpSynLinearTimeouts)}.`
        : `SYN cookies are ${linux.tcpSyncookies === 1 ? 'on when the SYN queue overflows' : 'always on'} (tcp_syncookies = ${linux.tcpSyncookies}).`,
      evidence: [],
      fix: linux.tcpSyncookies === 0 ? 'sysctl -w net.ipv4.tcp_syncookies=1' : undefined,
    });
  }
  if (linux?.tcpAbortOnOverflow !== undefined) {
    findings.push({
      id: 'backlog.abort-on-overflow', severity: linux.tcpAbortOnOverflow === 1 ? 'warn' : 'ok',
      title: linux.tcpAbortOnOverflow === 1
        ? 'tcp_abort_on_overflow = 1: a full accept queue answers with a reset instead of letting the client retry.'
        : 'tcp_abort_on_overflow = 0: a full accept queue drops the handshake and the client retransmits its SYN.',
      evidence: [`a Linux client retries after ${synRetrySteps(linux.tcpSynLinearTimeouts)}${linux.tcpSynLinearTimeouts !== undefined ? ` (tcp_syn_linear_timeouts = ${linux.tcpSynLinearTimeouts})` : ''}`],
      fix: linux.tcpAbortOnOverflow === 1 ? 'sysctl -w net.ipv4.tcp_abort_on_overflow=0 unless clients must fail fast' : undefined,
    });
  }
  if (linux?.netdevMaxBacklog !== undefined) {
    findings.push({
      id: 'net.netdev-backlog', severity: 'info',
      title: `net.core.netdev_max_backlog = ${formatCount(linux.netdevMaxBacklog)} packets queued per CPU before the stack (loopback too).`,
      evidence: [],
    });
  }
  if (linux?.rmemMax !== undefined && linux.wmemMax !== undefined) {
    findings.push({
      id: 'net.buffers', severity: 'info',
      title: `Socket buffers may grow to ${formatBytes(linux.rmemMax)} (rmem_max) / ${formatBytes(linux.wmemMax)} (wmem_max) when an application asks.`,
      evidence: [],
    });
  }

  // --- fds and memory: connections per process and per machine -----------------------------
  const hard = s.fdLimits.hard;
  const inst = instanceCapacity({
    memoryPerInstance: s.memory.bytes,
    overhead: opts.memoryOverhead,
    bytesPerConnection: opts.bytesPerConnection,
    fdLimit: hard,
    reservedFds: opts.reservedFds,
  });
  const who = s.fdLimits.pid === 'self' ? 'this process' : `pid ${s.fdLimits.pid}`;
  const fdEvidence = [
    `RLIMIT_NOFILE of ${who}: soft ${s.fdLimits.soft === undefined ? 'unknown' : formatCount(s.fdLimits.soft)}, hard ${hard === undefined ? 'unknown' : formatCount(hard)} (Node raises soft to hard at start)`,
    `${s.platform === 'darwin' ? 'kern.maxfilesperproc' : 'fs.nr_open'} (ceiling for any hard limit) = ${s.nrOpen === undefined ? 'unknown' : formatCount(s.nrOpen)}`,
  ];
  if (hard !== undefined) {
    const fdCap = Math.max(0, hard - opts.reservedFds);
    const short = targets.connections !== undefined && targets.connections > fdCap;
    findings.push({
      id: 'fds.per-process', severity: short ? 'error' : 'info',
      title: `One process can hold ≈${formatCount(fdCap)} connections by its fd limit (hard ${formatCount(hard)} − ${opts.reservedFds} reserved)${short ? `; the target is ${formatCount(targets.connections!)}` : ''}.`,
      evidence: fdEvidence,
      fix: short
        ? `raise the hard limit to ≥ ${formatCount(targets.connections! + opts.reservedFds)} (LimitNOFILE= in the systemd unit, ulimit -Hn, docker --ulimit nofile=), or spread over ≥ ${Math.ceil(targets.connections! / Math.max(1, fdCap))} processes (floodgate serve --workers)`
        : undefined,
    });
  }
  if (s.fileMax !== undefined) {
    const short = targets.connections !== undefined && targets.connections > s.fileMax;
    findings.push({
      id: 'fds.machine', severity: short ? 'error' : 'info',
      title: `The whole machine may open ${formatCount(s.fileMax)} files (${s.platform === 'darwin' ? 'kern.maxfiles' : 'fs.file-max'}).`,
      evidence: [],
      fix: short ? `sysctl -w ${s.platform === 'darwin' ? 'kern.maxfiles' : 'fs.file-max'}=${targets.connections! * 2}` : undefined,
    });
  }
  const memShort = targets.connections !== undefined && targets.connections > inst.memoryCap;
  findings.push({
    id: 'memory.connections', severity: memShort ? 'error' : 'info',
    title: `Memory allows ≈${formatCount(inst.memoryCap)} connections per process: (${formatBytes(s.memory.bytes)} ${s.memory.source} − ${formatBytes(opts.memoryOverhead)} overhead) / ${formatBytes(opts.bytesPerConnection)}${memShort ? `; the target is ${formatCount(targets.connections!)}` : ''}.`,
    evidence: [`memory limit from ${s.memory.source}: ${formatBytes(s.memory.bytes)}`],
    fix: memShort ? 'give the server more memory, lower bytes per connection (no per-client buffers), or add instances (floodgate plan)' : undefined,
  });
  // memory is per cgroup: one process's budget is also the machine's (or container's)
  const machineMemCap = inst.memoryCap;
  const conntrack = linux?.nfConntrackMax;
  if (conntrack !== undefined) {
    const short = targets.connections !== undefined && targets.connections > conntrack;
    findings.push({
      id: 'net.conntrack', severity: short ? 'error' : 'info',
      title: `Connection tracking holds at most ${formatCount(conntrack)} flows (nf_conntrack_max); past it, new connections are dropped.`,
      evidence: ['only applies when netfilter connection tracking is loaded, as it is here'],
      fix: short ? `sysctl -w net.netfilter.nf_conntrack_max=${targets.connections! * 2}` : undefined,
    });
  }
  if (linux?.tcpMem !== undefined) {
    const pressureBytes = linux.tcpMem[1] * 4096;
    const perConn = targets.connections ? pressureBytes / targets.connections : undefined;
    const tight = perConn !== undefined && perConn < 16 * 1024;
    findings.push({
      id: 'net.tcp-mem', severity: tight ? 'warn' : 'info',
      title: `TCP buffers of all sockets together enter memory pressure at ${formatBytes(pressureBytes)} and stop at ${formatBytes(linux.tcpMem[2] * 4096)} (tcp_mem, pages).`,
      evidence: perConn !== undefined ? [`${formatBytes(perConn)} per connection at pressure for ${formatCount(targets.connections!)} connections`] : [],
      fix: tight ? 'raise net.ipv4.tcp_mem, or keep send buffers small and close slow consumers' : undefined,
    });
  }
  const perProcess = inst.perInstance;
  const perMachine = Math.min(machineMemCap, s.fileMax ?? Infinity, conntrack ?? Infinity);
  const implications: Implications = {
    usablePorts,
    maxNewConnectionsPerSecond: maxRate,
    backlog: { requested, effective, somaxconn: s.somaxconn },
    perProcess: { fdCap: Number.isFinite(inst.fdCap) ? inst.fdCap : undefined, memoryCap: inst.memoryCap, connections: perProcess, limitedBy: inst.limitedBy },
    perMachine: { fileMax: s.fileMax, conntrackMax: conntrack, memoryCap: machineMemCap, connections: perMachine },
  };
  return { snapshot: s, targets, implications, findings, targetsMet: !findings.some((f) => f.severity === 'error') };
}
