import { FloodgateError } from '../errors.js';
import { listeningPortsOf, pidsListeningOn, readListeners, type Listener } from '../system/listeners.js';
import { readFdLimits, readSomaxconn } from '../system/limits.js';
import { readLinuxSysctls } from '../system/sysctl-set.js';
import { readProcFile } from '../system/proc-files.js';
import { countOpenFds } from '../system/process-usage.js';
import type { Finding } from './finding.js';
import { formatCount, formatPercent } from './format.js';

export interface ListenerCheckInput {
  port?: number;
  pid?: number;
  /** Fractions of a limit that warn and alarm (0.7 and 0.9 by default). */
  warnAt?: number;
  alarmAt?: number;
}

export interface ListenerReport {
  port?: number;
  pid?: number;
  listeners: Listener[];
  somaxconn?: number;
  fds?: { pid?: number; open: number; hard?: number; soft?: number };
  findings: Finding[];
}

/** Facts gathered separately from the reasoning so tests can feed recorded ones. */
export interface ListenerFacts {
  listeners: Listener[];
  somaxconn?: number;
  /** The listening process's fds (from --pid, or the single owner of --port). */
  fds?: { pid?: number; open: number; hard?: number; soft?: number };
  /** The listening process is `floodgate` (its command line says so): fixes may name Floodgate's settings. */
  floodgate?: boolean;
}

export function gatherListenerFacts(input: ListenerCheckInput): { ports: number[]; facts: ListenerFacts } {
  if (input.port === undefined && input.pid === undefined) {
    throw new FloodgateError('FG_ERR_INVALID_CONFIG', '`--port` or `--pid` is needed to check a listener.');
  }
  const ports = input.port !== undefined ? [input.port] : listeningPortsOf(input.pid!);
  const all = readListeners(input.pid);
  if (all === undefined) {
    throw new FloodgateError('FG_ERR_UNSUPPORTED_PLATFORM', 'Checking a listener needs `ss` (iproute2) to read the effective backlog.');
  }
  const listeners = all.filter((l) => ports.includes(l.port));
  let fds: ListenerFacts['fds'];
  // with --port only, find the process that owns the socket so its fds can be judged too
  const owners = input.pid === undefined ? pidsListeningOn(input.port!) : [];
  const pid = input.pid ?? (owners.length === 1 ? owners[0] : undefined);
  if (pid !== undefined) {
    const open = countOpenFds(pid);
    if (open === undefined) {
      throw new FloodgateError('FG_ERR_INVALID_CONFIG', `\`--pid\` ${pid} is not a process this user can inspect (no /proc/${pid}/fd).`, { pid });
    }
    const lim = readFdLimits(pid);
    fds = { pid, open, hard: lim.hard, soft: lim.soft };
  }
  // somaxconn is per network namespace: the listener's own (through nsenter when it lives in another)
  const somaxconn = input.pid !== undefined ? readLinuxSysctls(input.pid).somaxconn : readSomaxconn();
  const floodgate = pid !== undefined && /floodgate|cli\/main\.[jt]s\0serve/.test(readProcFile(`/proc/${pid}/cmdline`) ?? '');
  return { ports, facts: { listeners, somaxconn, fds, floodgate } };
}

export function judgeListener(input: ListenerCheckInput, ports: number[], facts: ListenerFacts): Finding[] {
  const warnAt = input.warnAt ?? 0.7;
  const alarmAt = input.alarmAt ?? 0.9;
  const findings: Finding[] = [];
  const what = input.port !== undefined ? `port ${input.port}` : `pid ${input.pid}`;
  if (facts.listeners.length === 0) {
    findings.push({
      id: 'listener.missing', severity: 'error',
      title: `Nothing listens on ${what}${ports.length > 0 ? ` (ports ${ports.join(', ')})` : ''}: clients get ECONNREFUSED.`,
      evidence: ['ss -ltn shows no LISTEN socket for it in this network namespace'],
      fix: 'start the server, or check the port',
    });
  }
  for (const l of facts.listeners) {
    const fill = l.backlog > 0 ? l.acceptQueue / l.backlog : 0;
    const severity = fill >= alarmAt ? 'error' : fill >= warnAt ? 'warn' : 'ok';
    const smallBacklog = facts.somaxconn !== undefined && l.backlog < Math.min(facts.somaxconn, 1024);
    findings.push({
      id: 'listener.backlog',
      severity: severity === 'ok' && smallBacklog ? 'warn' : severity,
      title: `${l.address}:${l.port} listens with an effective backlog of ${formatCount(l.backlog)}; ${formatCount(l.acceptQueue)} connections wait for accept() now (${formatPercent(fill)}).`,
      evidence: [
        `ss -ltn: Recv-Q ${l.acceptQueue} (accept queue), Send-Q ${l.backlog} (backlog)`,
        `net.core.somaxconn = ${facts.somaxconn ?? 'unknown'}${l.backlog === 511 ? '; 511 is Node\'s default when listen() gets no backlog' : ''}`,
      ],
      fix: severity !== 'ok'
        ? 'the server is not accepting fast enough: look for a blocked event loop, add workers, raise the backlog'
        : smallBacklog
          ? `${facts.floodgate ? `listen with a larger backlog (FLOODGATE_BACKLOG=${facts.somaxconn})` : `have the server listen with a larger backlog (Node: server.listen({ port, backlog: ${facts.somaxconn} }); nginx: listen … backlog=${facts.somaxconn})`} and restart: bursts over ${l.backlog} are dropped and retried after 1 s`
          : undefined,
    });
  }
  for (const l of facts.listeners) {
    if (facts.somaxconn === undefined || l.backlog !== facts.somaxconn) continue;
    // the kernel keeps only min(requested, somaxconn): a backlog exactly at the cap is the usual sign of a cut
    findings.push({
      id: 'listener.capped', severity: 'warn',
      title: `${l.address}:${l.port}'s backlog equals net.core.somaxconn (${formatCount(l.backlog)}): it was probably capped — the server asked for this much or more, and the requested value cannot be read back from the kernel.`,
      evidence: [`ss -ltn Send-Q ${l.backlog} = net.core.somaxconn ${facts.somaxconn}`, 'effective backlog = min(requested, somaxconn), fixed at listen()'],
      fix: `if the server asks for more than ${formatCount(facts.somaxconn)} (its config or listen() call says), raise net.core.somaxconn to that value (floodgate tune --backlog N) and restart it; if it asked for exactly this, nothing to do`,
    });
  }
  if (facts.fds) {
    const { open, hard } = facts.fds;
    const fdPid = facts.fds.pid ?? input.pid;
    const fill = hard ? open / hard : 0;
    findings.push({
      id: 'listener.fds', severity: fill >= alarmAt ? 'error' : fill >= warnAt ? 'warn' : 'ok',
      title: `pid ${fdPid} holds ${formatCount(open)} fds${hard ? ` of its hard limit ${formatCount(hard)} (${formatPercent(fill)})` : ''}.`,
      evidence: [`/proc/${fdPid}/fd: ${open} entries; /proc/${fdPid}/limits: soft ${facts.fds.soft ?? 'unlimited'}, hard ${hard ?? 'unlimited'}`],
      fix: fill >= warnAt ? 'raise LimitNOFILE / ulimit -n for the server, or look for leaked sockets (CLOSE_WAIT in floodgate watch)' : undefined,
    });
  }
  return findings;
}

export function checkListener(input: ListenerCheckInput): ListenerReport {
  const { ports, facts } = gatherListenerFacts(input);
  return { port: input.port, pid: input.pid, ...facts, findings: judgeListener(input, ports, facts) };
}
