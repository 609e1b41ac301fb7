import type { FailureBucket, FailureKind, FailureSide, RunEvidence } from './run-evidence.js';
import { floorPow2, formatCount, formatRate } from './format.js';

/**
 * Attributes the failures of a bench run to causes, with the evidence and the fix, following the
 * diagnosis rules of DESIGN.md. Kernel counters are host-wide (per network namespace), so a rule
 * never rests on a counter alone: it needs failures (or slow connects) of the matching kind in
 * this run, and the counter's delta is quoted next to them so a reader can judge.
 */

export type CauseId =
  | 'nothing-listening'
  | 'generator-fds'
  | 'client-ports'
  | 'application-admission'
  | 'server-fds'
  | 'kernel-tcp-memory'
  | 'accept-queue-overflow'
  | 'syn-queue-overflow'
  | 'syncookies'
  | 'http-status'
  | 'slow-server'
  | 'unexplained';

export interface Cause {
  id: CauseId;
  side: FailureSide;
  /** Failures of this run attributed to the cause (0 for a cause seen only in latencies or counters). */
  failures: number;
  kinds: FailureKind[];
  /** One or two sentences that end with the cause's name, e.g. "...: accept-queue overflow." */
  verdict: string;
  evidence: string[];
  fix?: string;
}

export interface Diagnosis {
  attempts: number;
  successes: number;
  failed: number;
  /** "2,220 of 12,000 handshakes failed." */
  headline: string;
  causes: Cause[];
  /** Failures no rule explained. */
  unexplained: number;
  /** Counters that moved without failures of this run to match (other traffic on the host, or harmless). */
  notes: string[];
  /** Headline, each cause's verdict and fix, and the notes, as printed. */
  text: string;
}

const detailOf = (b: FailureBucket): string => b.kind.slice(b.kind.indexOf('.') + 1);
const isRefused = (b: FailureBucket): boolean => detailOf(b) === 'ECONNREFUSED';
const isPortError = (b: FailureBucket): boolean => ['EADDRNOTAVAIL', 'EADDRINUSE'].includes(detailOf(b));
const isFdError = (b: FailureBucket): boolean => ['EMFILE', 'ENFILE'].includes(detailOf(b));
const is503 = (b: FailureBucket): boolean => b.kind === 'upgrade.status_503';
const isOtherStatus = (b: FailureBucket): boolean => /^status_\d+$/.test(detailOf(b)) && !is503(b);
const isTimeout = (b: FailureBucket): boolean => /ETIMEDOUT|timeout/i.test(detailOf(b));
/** The server end went away with no answer: what libuv does when accept() fails with EMFILE. */
const isClosedEarly = (b: FailureBucket): boolean =>
  /^(ECONNRESET|EPIPE|closed|unexpected_close|close_1006|socket_hang_up)$/.test(detailOf(b));
const isMidSessionReset = (b: FailureBucket): boolean =>
  (b.phase === 'session' || b.phase === 'frames') && /ECONNRESET|unexpected_close|close_1006/.test(detailOf(b));

export function diagnoseRun(evidence: RunEvidence): Diagnosis {
  const delta = (name: string): number => evidence.kernel?.delta?.[name] ?? 0;
  const remaining = new Set<FailureBucket>(evidence.failures.filter((b) => b.count > 0));
  const failed = evidence.failures.reduce((s, b) => s + b.count, 0);
  const causes: Cause[] = [];
  const notes: string[] = [];

  /** Moves the matching buckets out of `remaining` into a new cause. */
  const take = (pred: (b: FailureBucket) => boolean): FailureBucket[] => {
    const got = [...remaining].filter(pred);
    for (const b of got) remaining.delete(b);
    return got;
  };
  const sum = (bs: FailureBucket[]): number => bs.reduce((s, b) => s + b.count, 0);
  const add = (
    id: CauseId,
    side: FailureSide,
    buckets: FailureBucket[],
    verdict: string,
    ev: string[],
    fix?: string,
  ): void => {
    causes.push({ id, side, failures: sum(buckets), kinds: buckets.map((b) => b.kind), verdict, evidence: ev, fix });
  };
  const examples = (bs: FailureBucket[]): string[] =>
    bs.map((b) => `${formatCount(b.count)} × ${b.kind}${b.example ? ` (e.g. "${b.example}")` : ''}`);
  const target = `${evidence.target.host}:${evidence.target.port}`;
  const overflows = delta('TcpExt.ListenOverflows');
  const listenDrops = delta('TcpExt.ListenDrops');
  const slowConnects = evidence.connectLatencyMs?.atOrAboveOneSecond ?? 0;
  const settings = evidence.settings ?? {};

  // 1. Nothing listening: a refusal is an answer, not a capacity limit.
  const refused = take(isRefused);
  if (refused.length > 0) {
    add('nothing-listening', 'server', refused,
      `${formatCount(sum(refused))} connection attempts to ${target} were refused (ECONNREFUSED): nothing was listening on that port (not started, crashed or restarting) — not a capacity limit.`,
      examples(refused),
      `check that the server runs and listens on ${target} (ss -ltn 'sport = :${evidence.target.port}').`);
  }

  // 2. The generator's own fds.
  const genFds = take(isFdError);
  if (genFds.length > 0) {
    const g = evidence.generator;
    const ev = examples(genFds);
    if (g.fdLimitPerProcess !== undefined) {
      ev.push(`generator: ${g.processes} process(es), fd limit ${formatCount(g.fdLimitPerProcess)} each, peak ${g.peakFdsPerProcess === undefined ? 'unknown' : formatCount(g.peakFdsPerProcess)} fds in one process`);
    }
    add('generator-fds', 'generator', genFds,
      `${formatCount(sum(genFds))} attempts failed with EMFILE/ENFILE inside the load generator: the generator ran out of file descriptors (its own limit, not the server's).`,
      ev,
      'raise the generator\'s limit (ulimit -n, LimitNOFILE) or spread the connections over more generator processes.');
  }

  // 3. The generator's ephemeral ports.
  const ports = take(isPortError);
  if (ports.length > 0) {
    const g = evidence.generator;
    const range = g.portRange ?? settings.ipLocalPortRange;
    const usable = range ? range[1] - range[0] + 1 : undefined;
    const ips = g.sourceIps.length > 0 ? g.sourceIps.length : 1;
    const ev = examples(ports);
    if (range) ev.push(`ip_local_port_range ${range[0]}–${range[1]}: ${formatCount(usable!)} ports per (source IP, destination), ${ips} source IP(s) [${g.sourceIps.join(', ') || 'default'}]`);
    if (g.timeWaitToTarget !== undefined) ev.push(`${formatCount(g.timeWaitToTarget)} sockets in TIME_WAIT toward ${target} at the end (TIME_WAIT lasts 60 s on Linux)`);
    const peakEst = evidence.socketStates?.peak?.ESTABLISHED;
    if (peakEst !== undefined) ev.push(`peak ESTABLISHED toward the port: ${formatCount(peakEst)}`);
    if (settings.tcpTwReuse !== undefined) ev.push(`net.ipv4.tcp_tw_reuse = ${settings.tcpTwReuse}`);
    const rate = usable === undefined ? '' : ` At most ≈${formatRate((usable * ips) / 60)} new connections/s can be sustained to one destination while TIME_WAIT holds each port for 60 s.`;
    add('client-ports', 'generator', ports,
      `${formatCount(sum(ports))} attempts failed with EADDRNOTAVAIL/EADDRINUSE: the generator's ephemeral ports toward ${target} were exhausted.${rate}`,
      ev,
      'reuse connections instead of opening one per request; widen net.ipv4.ip_local_port_range (e.g. 1024 65535); set net.ipv4.tcp_tw_reuse=1 (outbound only); spread source IPs (127.0.0.2… on loopback); let the server close first so TIME_WAIT stays on its side.');
  }

  // 4. Application admission: a fast, deliberate 503.
  const unavailable = take(is503);
  if (unavailable.length > 0) {
    const retry = [...new Set(unavailable.flatMap((b) => b.retryAfter ?? []))];
    const clean = overflows === 0 && delta('TcpExt.TCPReqQFullDrop') === 0;
    add('application-admission', 'server', unavailable,
      `${formatCount(sum(unavailable))} upgrades were answered HTTP 503${retry.length > 0 ? ` with Retry-After ${retry.join('/')} s` : ''}${clean ? ' while the kernel counters stayed clean' : ''}: application admission — the server refused past its connection cap, by design.`,
      [...examples(unavailable), `ListenOverflows +${formatCount(overflows)}, TCPReqQFullDrop +${formatCount(delta('TcpExt.TCPReqQFullDrop'))} during the run`],
      'raise the cap (FLOODGATE_MAX_CONNECTIONS, or memoryLimit / bytesPerConnection), give the server more memory, or add nodes behind the load balancer (floodgate plan).');
  }

  // 5. The server's fds: connections accepted by the kernel, then closed with no answer.
  const srv = evidence.server;
  const serverAtLimit =
    srv?.fdLimit !== undefined && srv.peakFds !== undefined && srv.peakFds >= srv.fdLimit - Math.max(2, Math.ceil(srv.fdLimit * 0.01));
  if (serverAtLimit) {
    const closed = take(isClosedEarly);
    if (closed.length === 0) {
      notes.push(`The server process (pid ${srv!.pid}) reached ${formatCount(srv!.peakFds!)} of its ${formatCount(srv!.fdLimit!)} fds, but no attempt was closed early.`);
    } else {
      add('server-fds', 'server', closed,
        `${formatCount(sum(closed))} connections were accepted and then closed without an answer while the server process (pid ${srv!.pid}) held ${formatCount(srv!.peakFds!)} fds against a hard limit of ${formatCount(srv!.fdLimit!)}: server fd limit (on EMFILE the runtime accepts and closes).${overflows === 0 ? ' ListenOverflows stayed flat.' : ''}`,
        [...examples(closed), `server fds: peak ${formatCount(srv!.peakFds!)}, at end ${srv!.fdsAtEnd === undefined ? 'unknown' : formatCount(srv!.fdsAtEnd)}, limit ${formatCount(srv!.fdLimit!)}`],
        'raise the server\'s fd limit (LimitNOFILE= in the systemd unit, ulimit -n, docker --ulimit nofile=), and fs.file-max / fs.nr_open if they are lower; if fds grow without connections, look for a leak.');
    }
  }

  // 6. Kernel TCP memory: mid-life resets while the kernel aborted sockets for memory.
  const abortOnMemory = delta('TcpExt.TCPAbortOnMemory');
  if (abortOnMemory > 0) {
    const resets = take((b) => isMidSessionReset(b) || isClosedEarly(b));
    add('kernel-tcp-memory', 'server', resets,
      `The kernel aborted ${formatCount(abortOnMemory)} sockets for lack of TCP memory (TCPAbortOnMemory) during the run${resets.length > 0 ? ` and ${formatCount(sum(resets))} connections were reset mid-life` : ''}: kernel TCP memory (tcp_mem) exhausted.`,
      [...examples(resets), `TcpExt.TCPAbortOnMemory +${formatCount(abortOnMemory)}`],
      'raise net.ipv4.tcp_mem (pages), and buffer less per socket (smaller send buffers, close slow consumers sooner).');
  }

  // 7. Accept queue: overflows plus timeouts or 1 s connect steps in this run.
  const backlog = evidence.listener?.backlog;
  const somaxconn = evidence.listener?.somaxconn ?? settings.somaxconn;
  const queuePeak = evidence.listener?.maxAcceptQueue;
  const queueFilled = backlog !== undefined && queuePeak !== undefined && queuePeak >= backlog;
  if (overflows > 0 && ([...remaining].some(isTimeout) || slowConnects > 0 || queueFilled)) {
    const timeouts = take(isTimeout);
    const ev = [
      `TcpExt.ListenOverflows +${formatCount(overflows)}, ListenDrops +${formatCount(listenDrops)} during the run (host-wide)`,
      ...examples(timeouts),
    ];
    if (slowConnects > 0) ev.push(`${formatCount(slowConnects)} connects took ≥ 1 s (SYN retransmitted after a drop)`);
    if (queuePeak !== undefined) ev.push(`accept queue peaked at ${formatCount(queuePeak)}${backlog !== undefined ? ` of ${formatCount(backlog)}` : ''} (ss -ltn Recv-Q / Send-Q)`);
    if (backlog !== undefined && queuePeak !== undefined && queuePeak < backlog) {
      // sampling can miss a short peak, so this is a caveat, not a veto
      ev.push('the accept queue was never seen full: some of these overflows may belong to other listeners on this host');
    }
    const listenerPart =
      backlog !== undefined ? ` and the listener's backlog is ${formatCount(backlog)}${somaxconn !== undefined ? ` (somaxconn ${formatCount(somaxconn)})` : ''}` : '';
    const cap = somaxconn !== undefined && somaxconn > 0 ? somaxconn : 65535;
    // the burst the queue had to absorb: dropped attempts, or overflows (which also count each
    // retransmitted SYN, so they overstate it); rounded down to a power of two, at least 512
    const wanted = Math.min(65535, Math.max(512, floorPow2(Math.max(sum(timeouts), overflows))));
    let fix: string;
    if (backlog !== undefined && backlog >= wanted) {
      fix = `the queue (${formatCount(backlog)}) is already deep, so accept() was too slow: the server's event loop was blocked or CPU-bound; add accept capacity (floodgate serve --workers auto) and look for synchronous work on the loop.`;
    } else {
      fix = `listen with backlog ≥ ${wanted} (FLOODGATE_BACKLOG=${wanted})${wanted > cap ? ` and raise net.core.somaxconn to ≥ ${wanted} (floodgate tune --backlog ${wanted})` : ''}, then restart the server (the backlog is fixed at listen()); if the loop was blocked, add workers.`;
    }
    const failedPart = timeouts.length > 0 ? '' : ` No attempt failed, but ${formatCount(slowConnects)} connects waited for a SYN retransmit.`;
    add('accept-queue-overflow', 'server', timeouts,
      `The kernel counted ${formatCount(overflows)} ListenOverflows during the run${listenerPart}: accept-queue overflow.${failedPart}`,
      ev, fix);
  } else if (overflows > 0) {
    notes.push(`ListenOverflows rose by ${formatCount(overflows)} host-wide, but no attempt of this run timed out or waited ≥ 1 s: probably another listener on this machine.`);
  }

  // 8. SYN queue full without cookies.
  const reqQFullDrop = delta('TcpExt.TCPReqQFullDrop');
  if (reqQFullDrop > 0 && ([...remaining].some(isTimeout) || slowConnects > 0)) {
    const timeouts = take(isTimeout);
    const cookiesOff = settings.tcpSyncookies === 0;
    add('syn-queue-overflow', 'server', timeouts,
      `The kernel dropped ${formatCount(reqQFullDrop)} SYNs because the SYN queue was full (TCPReqQFullDrop)${cookiesOff ? ' and tcp_syncookies is 0' : ''}: SYN-queue overflow.`,
      [`TcpExt.TCPReqQFullDrop +${formatCount(reqQFullDrop)}`, ...examples(timeouts),
        ...(settings.tcpMaxSynBacklog !== undefined ? [`net.ipv4.tcp_max_syn_backlog = ${settings.tcpMaxSynBacklog}`] : [])],
      `enable SYN cookies (net.ipv4.tcp_syncookies=1), raise the listen backlog, net.core.somaxconn and net.ipv4.tcp_max_syn_backlog (floodgate tune).`);
  }

  // 9. SYN cookies answered a burst: connections survive, options (window scaling) may be lost.
  const cookies = Math.max(delta('TcpExt.TCPReqQFullDoCookies'), delta('TcpExt.SyncookiesSent'));
  if (cookies > 0 && overflows === 0) {
    const timeouts = [...remaining].some(isTimeout) ? take(isTimeout) : [];
    add('syncookies', 'server', timeouts,
      `The kernel answered ${formatCount(cookies)} SYNs with SYN cookies (SyncookiesSent / TCPReqQFullDoCookies) while ListenOverflows stayed flat: the SYN burst outran the SYN queue and was answered with cookies.`,
      [`TcpExt.SyncookiesSent +${formatCount(delta('TcpExt.SyncookiesSent'))}, TCPReqQFullDoCookies +${formatCount(delta('TcpExt.TCPReqQFullDoCookies'))}`, ...examples(timeouts)],
      'raise the listen backlog and net.core.somaxconn (floodgate tune --backlog 4096) so bursts fit in the queue.');
  }

  // 10. Other HTTP answers.
  const statuses = take(isOtherStatus);
  if (statuses.length > 0) {
    add('http-status', 'server', statuses,
      `${formatCount(sum(statuses))} upgrades were answered with an HTTP error status instead of 101: the server refused them (authentication, origin, path or an internal error).`,
      examples(statuses),
      'read the example responses; 401/403: token or Origin allowlist; 404: wrong path; 5xx: the server log.');
  }

  // 11. Timeouts with clean counters: slow, not dropped.
  const slow = take(isTimeout);
  if (slow.length > 0) {
    // A server too slow to read requests also gives up on some at its own header/handshake
    // timeout: those end closed or reset before any answer, in the same run as the timeouts.
    const gaveUp = take((b) => b.phase === 'upgrade' && isClosedEarly(b));
    const also = gaveUp.length > 0
      ? ` Another ${formatCount(sum(gaveUp))} were closed or reset before the upgrade answer: a server that falls this far behind drops requests it could not read within its own header or handshake timeout.`
      : '';
    add('slow-server', 'server', [...slow, ...gaveUp],
      `${formatCount(sum(slow))} attempts timed out while the kernel dropped nothing (ListenOverflows and TCPReqQFullDrop flat): the server (or the generator on the same cores) was too slow to answer.${also}`,
      [...examples(slow), ...examples(gaveUp), `TcpExt.ListenOverflows +${formatCount(overflows)}, TCPReqQFullDrop +${formatCount(reqQFullDrop)}`],
      'check the CPU of both processes during the run; add workers, lower the rate, or run the generator on another machine.');
  }

  // 12. Closed early without evidence of the fd limit.
  const closed = take(isClosedEarly);
  if (closed.length > 0) {
    const hint = srv?.fdLimit === undefined
      ? ' If the server ran out of fds it would look like this: pass --server-pid so its fd count is sampled.'
      : '';
    add('unexplained', 'server', closed,
      `${formatCount(sum(closed))} connections were closed or reset by the server without an answer; no rule explains them.${hint}`,
      examples(closed));
  }
  const rest = [...remaining];
  if (rest.length > 0) {
    add('unexplained', rest.every((b) => b.side === 'generator') ? 'generator' : 'server', rest,
      `${formatCount(sum(rest))} failures match no rule.`, examples(rest));
  }

  const unexplained = causes.filter((c) => c.id === 'unexplained').reduce((s, c) => s + c.failures, 0);
  const headline = failed === 0
    ? causes.length === 0
      ? `All ${formatCount(evidence.attempts)} handshakes succeeded.`
      // nothing failed, yet the kernel dropped and the clients retried: say so up front
      : `All ${formatCount(evidence.attempts)} handshakes succeeded, but not cleanly: ${causes.map((c) => c.id).join(', ')}.`
    : `${formatCount(failed)} of ${formatCount(evidence.attempts)} handshakes failed.`;
  const text = [
    headline,
    ...causes.map((c) => `${c.verdict}${c.fix ? ` Fix: ${c.fix}` : ''}`),
    ...notes.map((n) => `Note: ${n}`),
  ].join('\n');
  return { attempts: evidence.attempts, successes: evidence.successes, failed, headline, causes, unexplained, notes, text };
}

/** The full diagnosis with the evidence lines under each cause, for `floodgate doctor --run`. */
export function renderDiagnosis(d: Diagnosis): string {
  const out = [d.headline];
  for (const c of d.causes) {
    out.push('', `• ${c.verdict}`);
    for (const e of c.evidence) out.push(`    ${e}`);
    if (c.fix) out.push(`  Fix: ${c.fix}`);
  }
  for (const n of d.notes) out.push('', `Note: ${n}`);
  return out.join('\n');
}
