import { CONNECTION_COUNTERS, counterDelta, type KernelCounters } from '../system/kernel-counters.js';
import { readKernelCountersOf } from '../system/netns-counters.js';
import { readFdLimits, readMemoryLimit } from '../system/limits.js';
import { countOpenFds, readRss } from '../system/process-usage.js';
import { readPortStates } from '../system/socket-states.js';
import { formatBytes, formatCount, formatPercent } from './format.js';

export type Level = 'ok' | 'warn' | 'alarm';

export interface WatchOptions {
  port?: number;
  pid?: number;
  /** Fractions of a limit (0.7 / 0.9 by default). */
  warnAt: number;
  alarmAt: number;
}

export interface WatchTick {
  tick: number;
  time: string;
  port?: number;
  /** TCP sockets by state (filtered by port when given). */
  states: Record<string, number>;
  /** Change of each connection counter since the previous tick (host-wide, this network namespace). */
  counters: Record<string, number>;
  /** Change since the watch started. */
  countersTotal: Record<string, number>;
  process?: {
    pid: number;
    alive: boolean;
    fds?: number;
    fdLimit?: number;
    fdLevel: Level;
    rss?: number;
    memoryLimit: number;
    rssLevel: Level;
  };
}

export function levelOf(used: number | undefined, limit: number | undefined, o: Pick<WatchOptions, 'warnAt' | 'alarmAt'>): Level {
  if (used === undefined || limit === undefined || limit <= 0) return 'ok';
  const f = used / limit;
  return f >= o.alarmAt ? 'alarm' : f >= o.warnAt ? 'warn' : 'ok';
}

const pick = (c: KernelCounters): Record<string, number> =>
  Object.fromEntries(CONNECTION_COUNTERS.map((k) => [k === 'Softnet.Dropped' ? 'SoftnetDropped' : k.replace(/^(TcpExt|Tcp)\./, ''), c[k] ?? 0]));

/** Takes one sample per call; counter deltas are relative to the previous call. */
export class WatchSampler {
  private readonly first: KernelCounters;
  private prev: KernelCounters;
  private n = 0;
  private readonly memoryLimit = readMemoryLimit().bytes;

  /** With --pid, sockets and counters come from that process's network namespace. */
  private readonly netOf: number | 'self';

  constructor(private readonly opts: WatchOptions) {
    this.netOf = opts.pid ?? 'self';
    this.first = readKernelCountersOf(this.netOf);
    this.prev = this.first;
  }

  tick(): WatchTick {
    const now = readKernelCountersOf(this.netOf);
    const t: WatchTick = {
      tick: ++this.n,
      time: new Date().toISOString(),
      port: this.opts.port,
      // once a second over every socket of the namespace: read by fixed offsets, not parsed into objects
      states: readPortStates(this.opts.port, `/proc/${this.netOf}/net`).states,
      counters: pick(counterDelta(this.prev, now)),
      countersTotal: pick(counterDelta(this.first, now)),
    };
    this.prev = now;
    const pid = this.opts.pid;
    if (pid !== undefined) {
      const fds = countOpenFds(pid);
      const fdLimit = readFdLimits(pid).hard;
      const rss = readRss(pid);
      t.process = {
        pid, alive: fds !== undefined, fds, fdLimit, fdLevel: levelOf(fds, fdLimit, this.opts),
        rss, memoryLimit: this.memoryLimit, rssLevel: levelOf(rss, this.memoryLimit, this.opts),
      };
    }
    return t;
  }
}

const STATE_ORDER = ['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'NEW_SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSING', 'CLOSE', 'LISTEN'];
const MARK: Record<Level, string> = { ok: '', warn: '  WARN', alarm: '  ALARM' };

/** The terminal view of one tick. */
export function renderTick(t: WatchTick, o: Pick<WatchOptions, 'warnAt' | 'alarmAt'>, intervalMs: number): string {
  const lines = [`floodgate watch — ${t.time} — every ${intervalMs / 1000} s${t.port !== undefined ? ` — port ${t.port}` : ''}`, '', 'TCP sockets'];
  const states = STATE_ORDER.filter((s) => t.states[s] !== undefined).concat(Object.keys(t.states).filter((s) => !STATE_ORDER.includes(s)));
  if (states.length === 0) lines.push('  (none)');
  for (const s of states) lines.push(`  ${s.padEnd(13)} ${formatCount(t.states[s]).padStart(9)}`);
  lines.push('', `Kernel counters          ${'this tick'.padStart(10)} ${'since start'.padStart(12)}`);
  for (const [k, v] of Object.entries(t.counters)) {
    const hot = v > 0 && k !== 'AttemptFails' ? '  <-' : '';
    lines.push(`  ${k.padEnd(22)} ${('+' + formatCount(v)).padStart(10)} ${('+' + formatCount(t.countersTotal[k] ?? 0)).padStart(12)}${hot}`);
  }
  const p = t.process;
  if (p) {
    lines.push('', `Process ${p.pid}${p.alive ? '' : ' (gone)'}  (warn at ${formatPercent(o.warnAt)}, alarm at ${formatPercent(o.alarmAt)})`);
    if (p.alive) {
      lines.push(`  fds  ${formatCount(p.fds ?? 0).padStart(9)} of ${p.fdLimit === undefined ? 'unlimited' : formatCount(p.fdLimit)}${p.fdLimit ? ` (${formatPercent((p.fds ?? 0) / p.fdLimit)})` : ''}${MARK[p.fdLevel]}`);
      lines.push(`  rss  ${formatBytes(p.rss ?? 0).padStart(9)} of ${formatBytes(p.memoryLimit)} (${formatPercent((p.rss ?? 0) / p.memoryLimit)})${MARK[p.rssLevel]}`);
    }
  }
  return lines.join('\n');
}
