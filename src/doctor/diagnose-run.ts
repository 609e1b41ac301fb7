import type { FailureBucket, FailureKind, FailureSide, RunEvidence } from './run-evidence.js';
import { formatCount, formatRate } from './format.js';
import { backlogFix, counterScope, fdLimitFix } from './fix-terms.js';
import { findStalls, renderStalls, type Stall } from './stalls.js';

/**
 * Attributes the failures of a bench run to causes, with the evidence and the fix, following the
 * diagnosis rules of docs/doctor.md. Kernel counters are shared by every process of the network
 * namespace (the whole host unless the run had a namespace of its own), so a rule never rests on a
 * counter alone: it needs failures (or slow connects) of the matching kind in this run, and the
 * counter's delta is quoted next to them so a reader can judge. Application-level causes (a server
 * that never answers, closes after the upgrade, dies, or stalls its event loop) rest on the order
 * and timing of this run's own outcomes and, with --server-pid, on the server process itself.
 */

export type CauseId =
  | 'server-exited'
  | 'nothing-listening'
  | 'generator-fds'
  | 'client-ports'
  | 'application-admission'
  | 'server-fds'
  | 'kernel-tcp-memory'
  | 'syncookies-failed'
  | 'no-upgrade-answer'
  | 'event-loop-stall'
  | 'post-upgrade-close'
  | 'accept-queue-overflow'
  | 'syn-queue-overflow'
  | 'syncookies'
  | 'input-queue-drop'
  | 'syn-loss'
  | 'http-5xx'
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
  /** Ordered by the failures each explains, most first. */
  causes: Cause[];
  /** Failures no rule explained. */
  unexplained: number;
  /** Counters that moved without failures of this run to match (other traffic on the host, or harmless). */
  notes: string[];
  /** Headline, each cause's verdict and fix, and the notes, as printed. */
  text: string;
}

const detailOf = (b: FailureBucket): string => b.kind.slice(b.kind.indexOf('.') + 1);
const beforeAnswer = (b: FailureBucket): boolean => b.phase === 'connect' || b.phase === 'upgrade' || b.phase === 'handshake';
const afterUpgrade = (b: FailureBucket): boolean => b.phase === 'frames' || b.phase === 'session';
const isRefused = (b: FailureBucket): boolean => detailOf(b) === 'ECONNREFUSED';
const isPortError = (b: FailureBucket): boolean => ['EADDRNOTAVAIL', 'EADDRINUSE'].includes(detailOf(b));
const isFdError = (b: FailureBucket): boolean => ['EMFILE', 'ENFILE'].includes(detailOf(b));
const is503 = (b: FailureBucket): boolean => b.kind === 'upgrade.status_503';
const is5xx = (b: FailureBucket): boolean => /^status_5\d\d$/.test(detailOf(b)) && !is503(b);
const isOtherStatus = (b: FailureBucket): boolean => /^status_\d+$/.test(detailOf(b)) && !is503(b) && !is5xx(b);
const isTimeout = (b: FailureBucket): boolean => /ETIMEDOUT|timeout/i.test(detailOf(b));
const isUpgradeWait = (b: FailureBucket): boolean => b.phase === 'upgrade' && /^(timeout|unfinished_at_end)$/.test(detailOf(b));
/** The server end went away before any answer: what libuv does when accept() fails with EMFILE. */
const isClosedEarly = (b: FailureBucket): boolean =>
  beforeAnswer(b) && /^(ECONNRESET|EPIPE|closed|unexpected_close|close_1006|socket_hang_up)$/.test(detailOf(b));
const isResetBeforeAnswer = (b: FailureBucket): boolean => beforeAnswer(b) && detailOf(b) === 'ECONNRESET';
/** What a server that vanished leaves behind: held connections dropped, later attempts refused or cut. */
const isGoneServerKind = (b: FailureBucket): boolean => afterUpgrade(b) || isRefused(b) || isClosedEarly(b) || isUpgradeWait(b);

/** Meaning of the close codes a server sends after the upgrade (RFC 6455 §7.4.1 and common use). */
const CLOSE_MEANING: Record<string, string> = {
  '1000': 'normal closure (the server ended the session on purpose)',
  '1001': 'going away (the server is shutting down or restarting)',
  '1002': 'protocol error (the server rejected what it received)',
  '1003': 'unsupported data',
  '1006': 'no close frame (the TCP connection was dropped)',
  '1007': 'invalid payload data',
  '1008': 'policy violation',
  '1009': 'message too big',
  '1011': 'internal error in the server',
  '1012': 'service restart',
  '1013': 'try again later (overloaded)',
};

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
  const add = (id: CauseId, side: FailureSide, buckets: FailureBucket[], verdict: string, ev: string[], fix?: string): void => {
    causes.push({ id, side, failures: sum(buckets), kinds: buckets.map((b) => b.kind), verdict, evidence: ev, fix });
  };
  const examples = (bs: FailureBucket[]): string[] =>
    bs.map((b) => `${formatCount(b.count)} × ${b.kind}${b.example ? ` (e.g. "${b.example}")` : ''}`);
  const target = `${evidence.target.host}:${evidence.target.port}`;
  const scope = counterScope(evidence.kernel?.scope);
  const overflows = delta('TcpExt.ListenOverflows');
  const listenDrops = delta('TcpExt.ListenDrops');
  const slowConnects = evidence.connectLatencyMs?.atOrAboveOneSecond ?? 0;
  const settings = evidence.settings ?? {};
  const floodgate = evidence.floodgate === true;
  const srv = evidence.server;
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

  // 0. The server process died: a vanished pid is direct evidence, and it explains what follows it.
  if (srv?.exitedAtMs !== undefined) {
    const gone = take(isGoneServerKind);
    const ev = [
      `pid ${srv.pid} was running when the run started and was gone at t=${seconds(srv.exitedAtMs)} (/proc/${srv.pid} no longer existed)`,
      ...examples(gone),
    ];
    if (srv.peakFds) ev.push(`server fds before it exited: peak ${formatCount(srv.peakFds)}${srv.fdLimit !== undefined ? ` of its hard limit ${formatCount(srv.fdLimit)}` : ''}`);
    const refusedAfter = sum(gone.filter(isRefused));
    const dropped = sum(gone) - refusedAfter;
    const what = [
      dropped > 0 ? `${formatCount(dropped)} connections it held or had not answered yet were dropped` : '',
      refusedAfter > 0 ? `${formatCount(refusedAfter)} later attempts found nothing listening` : '',
    ].filter(Boolean).join(' and ');
    add('server-exited', 'server', gone,
      `The server process (pid ${srv.pid}) exited at t=${seconds(srv.exitedAtMs)} during the run${what ? `: ${what}` : ''}: server exited.`,
      ev,
      'read why it exited: its log and exit status (systemctl status, docker inspect / docker logs, journalctl), and dmesg for the OOM killer; a supervisor that restarts it shortens the gap but the clients still reconnect.');
  }

  // 1. Nothing listening: a refusal is an answer, not a capacity limit.
  const refused = take(isRefused);
  if (refused.length > 0) {
    const dropped = [...remaining].filter(afterUpgrade);
    const hint = dropped.length > 0
      ? ` ${formatCount(sum(dropped))} connections that were open were dropped in the same run: the server probably exited or restarted (pass --server-pid to see when).`
      : '';
    add('nothing-listening', 'server', refused,
      `${formatCount(sum(refused))} connection attempts to ${target} were refused (ECONNREFUSED): nothing was listening on that port (not started, crashed or restarting) — not a capacity limit.${hint}`,
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

  // 3. The generator's ephemeral ports: held by open connections, or by TIME_WAIT.
  const ports = take(isPortError);
  if (ports.length > 0) {
    const g = evidence.generator;
    const range = g.portRange ?? settings.ipLocalPortRange;
    const usable = range ? range[1] - range[0] + 1 : undefined;
    const ips = g.sourceIps.length > 0 ? g.sourceIps.length : 1;
    const ev = examples(ports);
    if (range) ev.push(`ip_local_port_range ${range[0]}–${range[1]}: ${formatCount(usable!)} ports per (source IP, destination), ${ips} source IP(s) [${g.sourceIps.join(', ') || 'default'}]`);
    const twBefore = evidence.socketStates?.before?.TIME_WAIT ?? 0;
    if (twBefore > 0) ev.push(`${formatCount(twBefore)} sockets toward ${target} were already in TIME_WAIT when the run started`);
    if (g.timeWaitToTarget !== undefined) ev.push(`${formatCount(g.timeWaitToTarget)} sockets in TIME_WAIT toward ${target} at the end (TIME_WAIT lasts 60 s on Linux)`);
    const peakEst = evidence.socketStates?.peak?.ESTABLISHED;
    if (peakEst !== undefined) ev.push(`peak ESTABLISHED toward the port: ${formatCount(peakEst)}`);
    if (settings.tcpTwReuse !== undefined) ev.push(`net.ipv4.tcp_tw_reuse = ${settings.tcpTwReuse}`);
    // Linux 6.13+: even with tw_reuse=1 a TIME_WAIT port is taken over only this long after its close
    const reuseAfter = settings.tcpTwReuseDelay !== undefined ? `${formatCount(settings.tcpTwReuseDelay)} ms (net.ipv4.tcp_tw_reuse_delay)` : '1 s';
    // TIME_WAIT took the ports when at least half the range was in TIME_WAIT before the run began
    const byTimeWait = usable !== undefined && twBefore * 2 >= usable;
    const rate = usable === undefined ? '' : ` At most ≈${formatRate((usable * ips) / 60)} new connections/s can be sustained to one destination while TIME_WAIT holds each port for 60 s.`;
    const needed = evidence.attempts;
    const rangeFix = usable !== undefined && needed > usable
      ? `widen net.ipv4.ip_local_port_range to ≥ ${formatCount(needed)} ports (this run wanted ${formatCount(needed)} at once, the range has ${formatCount(usable)}; e.g. 1024 65535) or spread over ≥ ${Math.ceil(needed / usable)} source IPs (--source-ips 127.0.0.2-127.0.0.${1 + Math.ceil(needed / usable)} on loopback)`
      : 'widen net.ipv4.ip_local_port_range (e.g. 1024 65535) or spread source IPs (127.0.0.2… on loopback)';
    add('client-ports', 'generator', ports,
      byTimeWait
        ? `${formatCount(sum(ports))} attempts failed with EADDRNOTAVAIL/EADDRINUSE: the generator's ephemeral ports toward ${target} were held in TIME_WAIT by earlier connections (${formatCount(twBefore)} of ${formatCount(usable!)}).${rate}`
        : `${formatCount(sum(ports))} attempts failed with EADDRNOTAVAIL/EADDRINUSE: the generator's ephemeral ports toward ${target} were exhausted.${rate}`,
      ev,
      byTimeWait
        ? `let TIME_WAIT stay on the server (it closes first: --teardown clean, the default), set net.ipv4.tcp_tw_reuse=1 on the client (outbound only; a port is reused ${reuseAfter} after its connection closed), reuse connections instead of opening one per request; or ${rangeFix}.`
        : `${rangeFix}; reuse connections instead of opening one per request; set net.ipv4.tcp_tw_reuse=1 (outbound only).`);
  }

  // 4. Application admission: a fast, deliberate 503.
  const unavailable = take(is503);
  if (unavailable.length > 0) {
    const retry = [...new Set(unavailable.flatMap((b) => b.retryAfter ?? []))];
    const clean = overflows === 0 && delta('TcpExt.TCPReqQFullDrop') === 0;
    add('application-admission', 'server', unavailable,
      `${formatCount(sum(unavailable))} upgrades were answered HTTP 503${retry.length > 0 ? ` with Retry-After ${retry.join('/')} s` : ''}${clean ? ' while the kernel counters stayed clean' : ''}: application admission — the server refused past its connection cap, by design.`,
      [...examples(unavailable), `ListenOverflows +${formatCount(overflows)}, TCPReqQFullDrop +${formatCount(delta('TcpExt.TCPReqQFullDrop'))} during the run (${scope})`],
      floodgate
        ? 'raise the cap (FLOODGATE_MAX_CONNECTIONS, or memoryLimit / bytesPerConnection), give the server more memory, or add nodes behind the load balancer (floodgate plan).'
        : 'raise the server\'s connection cap or add instances behind the load balancer; clients should honour Retry-After.');
  }

  // 5. The server's fds: connections accepted by the kernel, then closed with no answer.
  const serverAtLimit =
    srv?.fdLimit !== undefined && srv.peakFds !== undefined && srv.peakFds >= srv.fdLimit - Math.max(2, Math.ceil(srv.fdLimit * 0.01));
  if (serverAtLimit) {
    const closed = take(isClosedEarly);
    if (closed.length === 0) {
      notes.push(`The server process (pid ${srv!.pid}) reached ${formatCount(srv!.peakFds!)} of its ${formatCount(srv!.fdLimit!)} fds, but no attempt was closed early.`);
    } else {
      add('server-fds', 'server', closed,
        `${formatCount(sum(closed))} connections were accepted and then closed without an answer while the server process (pid ${srv!.pid}) held ${formatCount(srv!.peakFds!)} fds against a hard limit of ${formatCount(srv!.fdLimit!)}: server fd limit (on EMFILE the runtime accepts and closes).${overflows === 0 ? ' ListenOverflows stayed flat.' : ''}`,
        [...examples(closed), `server fds: ${srv!.fdsAtStart === undefined ? '' : `${formatCount(srv!.fdsAtStart)} at the start, `}peak ${formatCount(srv!.peakFds!)}, at end ${srv!.fdsAtEnd === undefined ? 'unknown' : formatCount(srv!.fdsAtEnd)}, limit ${formatCount(srv!.fdLimit!)}`],
        fdLimitFix({ attempts: evidence.attempts, held: evidence.successes, fdsAtStart: srv!.fdsAtStart, fdLimit: srv!.fdLimit, floodgate }));
    }
  }

  // 6. Kernel TCP memory: mid-life resets while the kernel aborted sockets for memory.
  const abortOnMemory = delta('TcpExt.TCPAbortOnMemory');
  if (abortOnMemory > 0) {
    const resets = take((b) => (afterUpgrade(b) && /ECONNRESET|unexpected_close|close_1006/.test(detailOf(b))) || isClosedEarly(b));
    add('kernel-tcp-memory', 'server', resets,
      `The kernel aborted ${formatCount(abortOnMemory)} sockets for lack of TCP memory (TCPAbortOnMemory) during the run${resets.length > 0 ? ` and ${formatCount(sum(resets))} connections were reset mid-life` : ''}: kernel TCP memory (tcp_mem) exhausted.`,
      [...examples(resets), `TcpExt.TCPAbortOnMemory +${formatCount(abortOnMemory)} (${scope})`],
      'raise net.ipv4.tcp_mem (pages), and buffer less per socket (smaller send buffers, close slow consumers sooner).');
  }

  // 7. Resets that match SYN cookies the kernel could not validate.
  const cookiesFailed = delta('TcpExt.SyncookiesFailed');
  if (cookiesFailed > 0) {
    const resets = [...remaining].filter(isResetBeforeAnswer);
    const n = sum(resets);
    if (n > 0 && Math.abs(n - cookiesFailed) <= Math.max(2, Math.ceil(cookiesFailed * 0.1))) {
      take((b) => resets.includes(b));
      add('syncookies-failed', 'server', resets,
        `${formatCount(n)} attempts were reset before any answer and the kernel counted ${formatCount(cookiesFailed)} SYN cookies that failed validation (SyncookiesFailed): the SYN queue overflowed, the kernel answered with cookies, and the returning ACKs did not validate, so it reset them.`,
        [...examples(resets), `TcpExt.SyncookiesFailed +${formatCount(cookiesFailed)}, SyncookiesSent +${formatCount(delta('TcpExt.SyncookiesSent'))} (${scope})`],
        `make the queues deep enough that cookies are not needed: ${backlogFix(Math.max(1024, evidence.generator.peakInFlight ?? 0), { floodgate, somaxconn: settings.somaxconn })}; and raise net.ipv4.tcp_max_syn_backlog to match.`);
    }
  }

  // 8. Server fd limit inferred from the pattern alone (no --server-pid): the first N upgrades
  //    succeeded and stayed open, then every later attempt was closed before any answer.
  if (!serverAtLimit && srv?.exitedAtMs === undefined) {
    const closed = [...remaining].filter(isClosedEarly);
    const o = evidence.order;
    const nothingElse = [...remaining].every((b) => isClosedEarly(b));
    const heldAll = !evidence.failures.some(afterUpgrade);
    // in a burst the last 101s can leave after the first refused accept: allow a second of overlap
    const plateau = o?.lastOpenMs !== undefined && o.firstEarlyCloseMs !== undefined && o.lastOpenMs <= o.firstEarlyCloseMs + 1000;
    if (closed.length > 0 && evidence.successes > 0 && nothingElse && heldAll && plateau) {
      take((b) => closed.includes(b));
      add('server-fds', 'server', closed,
        `The first ${formatCount(evidence.successes)} upgrades succeeded and stayed open; after that every attempt (${formatCount(sum(closed))}) was accepted and closed before any answer: the pattern of a server out of file descriptors (on EMFILE the runtime accepts and closes), inferred: pass --server-pid to confirm with its fd count.`,
        [...examples(closed),
          `last successful upgrade at t=${seconds(o!.lastOpenMs!)}, first attempt closed without an answer at t=${seconds(o!.firstEarlyCloseMs!)}`,
          `ListenOverflows +${formatCount(overflows)} (${scope})${overflows > 0 ? ': the accept queue also overflowed, but these attempts were accepted and closed, not dropped' : ''}`],
        fdLimitFix({ attempts: evidence.attempts, held: evidence.successes, floodgate }));
    }
  }

  // 9. Connects fast, connections held, not one upgrade answered: wrong endpoint or a hung handler.
  const waits = [...remaining].filter(isUpgradeWait);
  const cl = evidence.connectLatencyMs;
  if (waits.length > 0 && evidence.successes === 0 && evidence.attempts > 0 && cl !== undefined && slowConnects * 10 <= sum(waits)) {
    take((b) => waits.includes(b));
    const ev = [
      ...examples(waits),
      `TCP connects were fast: p50 ${cl.p50} ms, p99 ${cl.p99} ms, ${formatCount(slowConnects)} took ≥ 1 s; the server accepted and held the connections`,
      `0 of ${formatCount(evidence.attempts)} upgrades were answered (no 101, no HTTP status, no close)`,
    ];
    const peakEst = evidence.socketStates?.peak?.ESTABLISHED;
    if (peakEst !== undefined) ev.push(`peak ESTABLISHED toward the port: ${formatCount(peakEst)}`);
    const busy = busyDuring(srv?.cpu, 0, evidence.durationMs);
    if (busy !== undefined) ev.push(`server CPU during the run: ${Math.round(busy.cores * 100)}% of a core (state ${busy.state})`);
    add('no-upgrade-answer', 'server', waits,
      `${formatCount(sum(waits))} connections to ${target} were accepted and held, but the server never answered the upgrade request: no-upgrade-answer (a port that does not speak HTTP/WebSocket, ws:// to a TLS port, or an upgrade handler that never completes).`,
      ev,
      busy !== undefined && busy.cores >= 0.5
        ? 'the server burned a core without answering: its event loop is blocked (a CPU profile shows where: node --cpu-prof); fix the synchronous work.'
        : `check that ${evidence.target.url} is the WebSocket endpoint (port, path, ws:// vs wss://: a TLS port waits silently for a ClientHello), and that the server's upgrade handler answers every request (a handler that awaits something that never resolves hangs every client).`);
  }

  // 10. A stalled event loop: progress stops for seconds while attempts wait, then resumes.
  const stalls = findStalls(evidence.series ?? []);
  if (stalls.length > 0 && evidence.successes > 0) {
    const cpu = stalls.map((s) => busyDuring(srv?.cpu, s.fromS * 1000, s.toS * 1000)).filter((x): x is NonNullable<typeof x> => x !== undefined);
    const known = cpu.length > 0;
    const cores = known ? cpu.reduce((s, c) => s + c.cores, 0) / cpu.length : undefined;
    const states = cpu.map((c) => c.state).filter((s, i, a) => a.indexOf(s) === i);
    // running (R) through the stalls: computing, even if a crowded machine gave it less than a core
    const burning = cores !== undefined && (cores >= 0.5 || cpu.every((c) => c.state === 'R'));
    // without the pid, only a run whose connects were never slow: SYN retransmit gaps look the same
    const inferred = !known && slowConnects === 0 && overflows === 0;
    if (burning || inferred) {
      const gaveUp = take((b) => (isUpgradeWait(b) || (b.phase === 'upgrade' && isClosedEarly(b))));
      const ev = [renderStalls(stalls, evidence.series ?? []), ...examples(gaveUp)];
      if (known) ev.push(`server CPU during the stalls: ${Math.round(cores! * 100)}% of a core (state ${states.join('/')})`);
      else ev.push('no --server-pid: inferred from the per-second series (connects stayed fast, so the kernel dropped nothing); a server starved of CPU by other processes looks the same: pass --server-pid to see its CPU and state during the stalls');
      add('event-loop-stall', 'server', gaveUp,
        `No upgrade completed for ${stalls.map((s) => `${(s.toS - s.fromS).toFixed(0)} s`).join(', ')} while attempts were waiting, and progress resumed after each gap${known ? `, while the server kept running (state ${states.join('/')}, ${Math.round(cores! * 100)}% of a core)` : ''}: event-loop stall (synchronous work blocks the server's loop).`,
        ev,
        'find the synchronous work on the event loop (node --cpu-prof, or --inspect and a CPU profile; typical: sync fs or crypto calls, JSON of large payloads, long loops) and move it off the loop (worker threads, chunking); more worker processes keep accepting while one stalls.');
    } else if (known && !burning) {
      notes.push(`Progress stopped for ${stalls.map((s) => `${(s.toS - s.fromS).toFixed(0)} s`).join(', ')} while the server used ${Math.round(cores! * 100)}% of a core (state ${states.join('/')}): it was waiting on something (a lock, a backend, the disk), not computing.`);
    }
  }

  // 11. Closed after a successful upgrade: the handshakes worked, the sessions did not last.
  const post = take((b) => afterUpgrade(b) && b.side === 'server');
  if (post.length > 0) {
    const codes = post.map((b) => {
      const d = detailOf(b);
      const code = /^close_(\d+)$/.exec(d)?.[1];
      return code ? `close ${code}${CLOSE_MEANING[code] ? ` = ${CLOSE_MEANING[code]}` : ''}: ${formatCount(b.count)}` : `${d}: ${formatCount(b.count)}`;
    });
    const goingAway = post.some((b) => /^close_(1001|1012)$/.test(detailOf(b)));
    const resets = post.some((b) => /ECONNRESET|unexpected_close|close_1006/.test(detailOf(b)));
    add('post-upgrade-close', 'server', post,
      `${formatCount(sum(post))} connections were closed by the server after a successful upgrade (the handshakes worked; the sessions did not last to the end of the run): post-upgrade close. Seen: ${codes.join('; ')}.`,
      examples(post),
      [
        goingAway ? 'going away / restart: the server shut down or restarted during the run; drain before restarting, or expect clients to reconnect' : '',
        resets ? 'resets and closes without a close frame: the server (or a proxy or load balancer in between) dropped the TCP connection; check its log, idle timeouts of anything in the path, and its memory' : '',
        post.some((b) => /^close_(1002|1003|1007|1008|1009|1011|4\d\d\d)$/.test(detailOf(b))) ? 'policy, protocol or internal-error codes: the close reason and the server\'s log say which rule closed them' : '',
      ].filter(Boolean).join('; ') + '.');
  }

  // 12. Accept queue: overflows plus timeouts or 1 s connect steps in this run.
  const backlog = evidence.listener?.backlog;
  const somaxconn = evidence.listener?.somaxconn ?? settings.somaxconn;
  const queuePeak = evidence.listener?.maxAcceptQueue;
  const queueFilled = backlog !== undefined && queuePeak !== undefined && queuePeak >= backlog;
  if (overflows > 0 && ([...remaining].some(isTimeout) || slowConnects > 0 || queueFilled)) {
    const timeouts = take(isTimeout);
    const ev = [
      `TcpExt.ListenOverflows +${formatCount(overflows)}, ListenDrops +${formatCount(listenDrops)} during the run (${scope})`,
      ...examples(timeouts),
    ];
    if (slowConnects > 0) ev.push(`${formatCount(slowConnects)} connects took ≥ 1 s (SYN retransmitted after a drop)`);
    if (queuePeak !== undefined) ev.push(`accept queue peaked at ${formatCount(queuePeak)}${backlog !== undefined ? ` of ${formatCount(backlog)}` : ''} (ss -ltn Recv-Q / Send-Q)`);
    if (backlog !== undefined && somaxconn !== undefined && backlog === somaxconn) {
      ev.push(`the listener's backlog equals net.core.somaxconn (${formatCount(somaxconn)}): the server probably asked for more and was capped (the requested value cannot be read back)`);
    }
    const ownCounters = evidence.kernel?.scope === 'netns';
    if (backlog !== undefined && queuePeak !== undefined && queuePeak < backlog) {
      // sampling can miss a short peak, so this is a caveat, not a veto
      ev.push(ownCounters
        ? 'the accept queue was never seen full (it is sampled, so a short peak can be missed)'
        : 'the accept queue was never seen full: some of these overflows may belong to other listeners on this host');
    }
    const listenerPart =
      backlog !== undefined ? ` and the listener's backlog is ${formatCount(backlog)}${somaxconn !== undefined ? ` (somaxconn ${formatCount(somaxconn)})` : ''}` : '';
    // Size from the attempts in flight, not from the overflow count: ListenOverflows count every
    // retransmitted SYN again, so a 5,000 burst counted 16,000+ while 4,096 already held it.
    const peakInFlight = evidence.generator.peakInFlight;
    const waited = Math.max(sum(timeouts), slowConnects);
    // what the queue held at its fullest: backlog + 1 when full, else the sampled peak
    // (with counters of this namespace only, an overflow means this queue was full, whatever the samples saw)
    const held = backlog === undefined ? 0 : queuePeak !== undefined && !ownCounters ? Math.min(backlog + 1, queuePeak) : backlog + 1;
    const inFlight = Math.max(1, Math.min(peakInFlight ?? Infinity, held + waited));
    const wanted = Math.min(65535, roundUpBacklog(inFlight));
    const capped = peakInFlight !== undefined && peakInFlight < held + waited ? `, at most the ${formatCount(peakInFlight)} the generator had in flight at once` : '';
    const arithmetic = `sized from the attempts in flight: the queue held ${formatCount(held)}${backlog !== undefined ? ` (backlog ${formatCount(backlog)})` : ''} + ${formatCount(waited)} more waited for a SYN retransmit or timed out = ${formatCount(held + waited)}${capped} → ${formatCount(inFlight)} in flight, rounded up to ${formatCount(wanted)}. ListenOverflows (${formatCount(overflows)}) also count each retransmitted SYN, so they overstate the burst`;
    ev.push(arithmetic);
    let fix: string;
    if (backlog !== undefined && backlog >= wanted) {
      fix = `the queue (${formatCount(backlog)}) is already deep enough for the ${formatCount(inFlight)} attempts in flight, so accept() was too slow: the server's event loop was blocked or CPU-bound; ${floodgate ? 'add accept capacity (floodgate serve --workers auto)' : 'add accept capacity (more server processes)'} and look for synchronous work on the loop.`;
    } else {
      fix = `${backlogFix(wanted, { floodgate, somaxconn })}; if the loop was blocked, ${floodgate ? 'add workers' : 'add server processes'}.`;
    }
    const failedPart = timeouts.length > 0
      ? ''
      : failed === 0
        ? ` No attempt failed, but ${formatCount(slowConnects)} connects waited for a SYN retransmit.`
        : ` None of this run's failures are from it, but ${formatCount(slowConnects)} connects waited for a SYN retransmit.`;
    add('accept-queue-overflow', 'server', timeouts,
      `The kernel counted ${formatCount(overflows)} ListenOverflows during the run${listenerPart}: accept-queue overflow.${failedPart}`,
      ev, fix);
  } else if (overflows > 0) {
    notes.push(`ListenOverflows rose by ${formatCount(overflows)} (${scope}), but no attempt of this run timed out or waited ≥ 1 s: probably another listener${evidence.kernel?.scope === 'netns' ? ' in this namespace' : ' on this machine'}.`);
  }

  // 13. SYN queue full without cookies.
  const reqQFullDrop = delta('TcpExt.TCPReqQFullDrop');
  if (reqQFullDrop > 0 && ([...remaining].some(isTimeout) || slowConnects > 0)) {
    const timeouts = take(isTimeout);
    const cookiesOff = settings.tcpSyncookies === 0;
    add('syn-queue-overflow', 'server', timeouts,
      `The kernel dropped ${formatCount(reqQFullDrop)} SYNs because the SYN queue was full (TCPReqQFullDrop)${cookiesOff ? ' and tcp_syncookies is 0' : ''}: SYN-queue overflow.`,
      [`TcpExt.TCPReqQFullDrop +${formatCount(reqQFullDrop)} (${scope})`, ...examples(timeouts),
        ...(settings.tcpMaxSynBacklog !== undefined ? [`net.ipv4.tcp_max_syn_backlog = ${settings.tcpMaxSynBacklog}`] : [])],
      'enable SYN cookies (net.ipv4.tcp_syncookies=1), raise the listen backlog, net.core.somaxconn and net.ipv4.tcp_max_syn_backlog (floodgate tune).');
  }

  // 14. SYN cookies answered a burst: connections survive, options (window scaling) may be lost.
  const cookies = Math.max(delta('TcpExt.TCPReqQFullDoCookies'), delta('TcpExt.SyncookiesSent'));
  if (cookies > 0 && overflows === 0 && !causes.some((c) => c.id === 'syncookies-failed')) {
    const timeouts = [...remaining].some(isTimeout) ? take(isTimeout) : [];
    const wanted = ceilPow2(Math.max(1024, evidence.generator.peakInFlight ?? 0));
    add('syncookies', 'server', timeouts,
      `The kernel answered ${formatCount(cookies)} SYNs with SYN cookies (SyncookiesSent / TCPReqQFullDoCookies) while ListenOverflows stayed flat: the SYN burst outran the SYN queue and was answered with cookies.`,
      [`TcpExt.SyncookiesSent +${formatCount(delta('TcpExt.SyncookiesSent'))}, TCPReqQFullDoCookies +${formatCount(delta('TcpExt.TCPReqQFullDoCookies'))} (${scope})`, ...examples(timeouts)],
      `${backlogFix(wanted, { floodgate, somaxconn: settings.somaxconn })}, so bursts fit in the queue.`);
  }

  // 14a. The CPUs' input queues (netdev_max_backlog) dropped packets before TCP saw them: on one
  //      machine (loopback, veth) a connect burst queues every SYN there, so SYNs are lost although
  //      no TCP queue overflowed. softnet_stat is the host's, whatever the namespace: it needs
  //      retransmitted or timed-out connects of this run beside it, like every counter rule.
  const queueCauses = causes.some((c) => ['accept-queue-overflow', 'syn-queue-overflow', 'syncookies', 'syncookies-failed'].includes(c.id));
  const connectTimeouts = [...remaining].filter((b) => b.kind === 'connect.ETIMEDOUT');
  const inputDrops = delta('Softnet.Dropped');
  const backlogSetting = settings.netdevMaxBacklog !== undefined ? `net.core.netdev_max_backlog = ${formatCount(settings.netdevMaxBacklog)}` : 'net.core.netdev_max_backlog';
  const inputFix = `raise ${settings.netdevMaxBacklog !== undefined ? `net.core.netdev_max_backlog (now ${formatCount(settings.netdevMaxBacklog)}) to ≥ ${formatCount(Math.max(4096, roundUpBacklog(evidence.generator.peakInFlight ?? 0)))}` : 'net.core.netdev_max_backlog (host-wide, default 1,000) to the burst size'} (floodgate tune writes it; it is one value for the whole host), or spread the connects over time (--rate).`;
  if (inputDrops > 0 && !queueCauses && (slowConnects > 0 || connectTimeouts.length > 0)) {
    const lost = take((b) => connectTimeouts.includes(b));
    add('input-queue-drop', 'server', lost,
      `${formatCount(slowConnects + sum(lost))} connects waited for SYN retransmits or timed out while the kernel's per-CPU input queues dropped ${formatCount(inputDrops)} packets (${backlogSetting}) and no TCP queue overflowed: the SYNs were dropped before TCP saw them — input-queue overflow (netdev_max_backlog; loopback and veth traffic passes through it too).`,
      [
        ...examples(lost),
        `${formatCount(slowConnects)} connects took ≥ 1 s (a SYN or SYN-ACK was retransmitted)${cl ? `; connect p50 ${cl.p50} ms, p99 ${cl.p99} ms` : ''}`,
        `/proc/net/softnet_stat dropped +${formatCount(inputDrops)}, time_squeeze +${formatCount(delta('Softnet.TimeSqueeze'))} (host-wide, every CPU); ListenOverflows +${formatCount(overflows)}, TCPReqQFullDrop +${formatCount(delta('TcpExt.TCPReqQFullDrop'))} (${scope})`,
      ],
      inputFix);
  } else if (inputDrops > 0 && (slowConnects > 0 || connectTimeouts.length > 0)) {
    notes.push(`The CPUs' input queues also dropped ${formatCount(inputDrops)} packets during the run (/proc/net/softnet_stat, host-wide; ${backlogSetting}): some SYN retransmits may come from there rather than the listener's queues. Fix: ${inputFix}`);
  }

  // 14b. SYNs retransmitted although no queue here dropped any: lost on the way (or, for a target on
  //      another host or namespace, dropped where this machine's counters cannot see).
  if (!queueCauses && (slowConnects > 0 || connectTimeouts.length > 0) && !causes.some((c) => c.id === 'input-queue-drop')) {
    const lost = take((b) => connectTimeouts.includes(b));
    const synRetrans = delta('TcpExt.TCPSynRetrans');
    const local = evidence.target.local;
    const ev = [
      ...examples(lost),
      `${formatCount(slowConnects)} connects took ≥ 1 s (a SYN or SYN-ACK was retransmitted)${cl ? `; connect p50 ${cl.p50} ms, p99 ${cl.p99} ms` : ''}`,
      `TcpExt.TCPSynRetrans +${formatCount(synRetrans)}, ListenOverflows +${formatCount(overflows)}, TCPReqQFullDrop +${formatCount(reqQFullDrop)} (${scope}); /proc/net/softnet_stat dropped +${formatCount(inputDrops)}`,
    ];
    add('syn-loss', 'server', lost,
      local
        ? `${formatCount(slowConnects + sum(lost))} connects waited for SYN retransmits or timed out while no queue on this machine dropped anything (ListenOverflows, TCPReqQFullDrop and the input queues' drops flat): the SYNs or SYN-ACKs were lost on the way — SYN loss (a lossy link, a firewall or conntrack dropping them).`
        : `${formatCount(slowConnects + sum(lost))} connects waited for SYN retransmits or timed out: SYN loss — ${evidence.target.host} is not on this machine (or in another network namespace), so its own drops are not in these counters: its accept queue may have overflowed, or the network lost the packets.`,
      ev,
      local
        ? 'look at the path: packet loss (ip -s link, tc qdisc), firewall rules and the conntrack table (nf_conntrack_max, conntrack -S); SYN rate limits in a load balancer.'
        : `on the server, run floodgate doctor --port ${evidence.target.port} (or floodgate watch --port ${evidence.target.port}) during a run to see its ListenOverflows and queue; if they stay flat, the network loses packets (mtr, ip -s link, tc qdisc, firewall and conntrack on the way).`);
  }

  // 15. HTTP errors: the server's own failures (5xx), then refusals (4xx, redirects).
  const fives = take(is5xx);
  if (fives.length > 0) {
    add('http-5xx', 'server', fives,
      `${formatCount(sum(fives))} upgrades were answered with an HTTP 5xx error (${fives.map((b) => detailOf(b).slice(7)).join(', ')}): the server (or a proxy in front of it) failed while handling the upgrade — an internal error, not a refusal by policy.`,
      examples(fives),
      '502/504 come from a proxy that could not reach or wait for the server behind it; 500 from the server itself: its error log names the failure.');
  }
  const statuses = take(isOtherStatus);
  if (statuses.length > 0) {
    add('http-status', 'server', statuses,
      `${formatCount(sum(statuses))} upgrades were answered with an HTTP status instead of 101: the server refused them (authentication, origin, path).`,
      examples(statuses),
      'read the example responses; 401/403: token or Origin allowlist; 404: wrong path; 3xx: follow the redirect (wss://?).');
  }

  // 16. Timeouts with clean counters: slow, not dropped.
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
      [...examples(slow), ...examples(gaveUp), `TcpExt.ListenOverflows +${formatCount(overflows)}, TCPReqQFullDrop +${formatCount(reqQFullDrop)} (${scope})`],
      `check the CPU of both processes during the run; ${floodgate ? 'add workers (floodgate serve --workers auto)' : 'add server processes'}, lower the rate, or run the generator on another machine.`);
  }

  // 17. Closed early without evidence of the fd limit.
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
  if (evidence.kernel?.scope !== 'netns' && causes.some((c) => c.evidence.some((e) => e.includes('(host-wide')))) {
    notes.push('Kernel counters here are host-wide: every process on this machine adds to them. For counters of this run alone, run the server and floodgate bench in a network namespace of their own (ip netns add fg; ip netns exec fg floodgate bench …).');
  }

  // Most failures explained first; a stable sort keeps rule order among equals.
  causes.sort((a, b) => b.failures - a.failures);
  const unexplained = causes.filter((c) => c.id === 'unexplained').reduce((s, c) => s + c.failures, 0);
  const headline = headlineOf(evidence, failed, causes);
  const text = [
    headline,
    ...causes.map((c) => `${c.verdict}${c.fix ? ` Fix: ${c.fix}` : ''}`),
    ...notes.map((n) => `Note: ${n}`),
  ].join('\n');
  return { attempts: evidence.attempts, successes: evidence.successes, failed, headline, causes, unexplained, notes, text };
}

function headlineOf(evidence: RunEvidence, failed: number, causes: Cause[]): string {
  const n = formatCount(evidence.attempts);
  if (failed === 0) {
    // nothing failed, yet the kernel dropped or the loop stalled and the clients waited: say so up front
    return causes.length === 0 ? `All ${n} handshakes succeeded.` : `All ${n} handshakes succeeded, but not cleanly: ${causes.map((c) => c.id).join(', ')}.`;
  }
  const after = evidence.failures.filter(afterUpgrade).reduce((s, b) => s + b.count, 0);
  if (after === 0) return `${formatCount(failed)} of ${n} handshakes failed.`;
  if (after === failed) return `${formatCount(failed)} of ${n} connections failed after a successful upgrade.`;
  return `${formatCount(failed)} of ${n} connections failed: ${formatCount(failed - after)} before the upgrade answer, ${formatCount(after)} after a successful upgrade.`;
}

/** Smallest power of two ≥ n. */
function ceilPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/** A backlog that holds n: the next power of two up to 1,024, then the next multiple of 1,024 (not 2× too large). */
function roundUpBacklog(n: number): number {
  return n <= 1024 ? ceilPow2(n) : Math.ceil(n / 1024) * 1024;
}

/** The server's mean CPU (cores) over the samples that overlap [fromMs, toMs], and its most frequent state. */
function busyDuring(cpu: NonNullable<RunEvidence['server']>['cpu'], fromMs: number, toMs: number): { cores: number; state: string } | undefined {
  if (!cpu || cpu.length === 0) return undefined;
  let weighted = 0;
  let span = 0;
  const states = new Map<string, number>();
  for (const c of cpu) {
    const overlap = Math.min(toMs, c.toMs) - Math.max(fromMs, c.fromMs);
    if (overlap <= 0) continue;
    weighted += c.cores * overlap;
    span += overlap;
    states.set(c.state, (states.get(c.state) ?? 0) + overlap);
  }
  if (span === 0) return undefined;
  const state = [...states.entries()].sort((a, b) => b[1] - a[1])[0][0];
  return { cores: weighted / span, state };
}

export type { Stall };

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
