/**
 * Presence suite: what presence and join/leave cost the gateway, against the same work with both
 * off, in the same run. One gateway process (memory broker, then Redis); CONNS `ws` clients in
 * this process, CHANNEL_SIZE per channel. Phases, each timed by the gateway's CPU (and Redis's)
 * from /proc:
 *   subscribe   every client subscribes (with join/leave: until every join has arrived)
 *   ask         every client sends one `presence` frame (off: one `ping`, the same round trip)
 *   unsubscribe every client unsubscribes (with join/leave: until every leave has arrived)
 * Prints a markdown section; writes benchmarks/results/presence.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { bounded, cpuSeconds, freePort } from '../lib/measure.js';

const root = new URL('../../', import.meta.url).pathname;
const CONNS = Number(process.env.FG_BENCH_PRESENCE_CONNS ?? 2000);
const CHANNEL_SIZE = Number(process.env.FG_BENCH_PRESENCE_CHANNEL_SIZE ?? 50);
const RUNS = Number(process.env.FG_BENCH_RUNS ?? 2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Mode = 'off' | 'presence' | 'presence+joinLeave';
const MODES: Mode[] = ['off', 'presence', 'presence+joinLeave'];

function spawnGroup(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  started.push(c);
  return c;
}

function killGroup(c: ChildProcess): void {
  try {
    process.kill(-c.pid!, 'SIGKILL');
  } catch { /* gone */ }
}

async function waitLine(c: ChildProcess, re: RegExp, ms: number): Promise<void> {
  let buf = '';
  await bounded(new Promise<void>((resolve) => c.stdout!.on('data', (d) => {
    buf += d;
    if (buf.split('\n').some((l) => re.test(l))) resolve();
  })), ms, `startup line ${re}`);
}

/** Counts frames by type over every client; `until` resolves when a type reaches a count. */
class Tally {
  private counts = new Map<string, number>();
  private waiters: { type: string; n: number; resolve: () => void }[] = [];
  add(type: string): void {
    const n = (this.counts.get(type) ?? 0) + 1;
    this.counts.set(type, n);
    this.waiters = this.waiters.filter((w) => (w.type === type && n >= w.n ? (w.resolve(), false) : true));
  }
  get(type: string): number {
    return this.counts.get(type) ?? 0;
  }
  /** Resolves once `type` has not grown for `quietMs` (join/leave counts depend on timing across Redis). */
  async settled(type: string, quietMs: number): Promise<void> {
    let last = -1;
    while (this.get(type) !== last) {
      last = this.get(type);
      await sleep(quietMs);
    }
  }
  until(type: string, n: number): Promise<void> {
    if (this.get(type) >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ type, n, resolve }));
  }
}

async function measure(mode: Mode, broker: string, extraPids: number[]) {
  const port = await freePort();
  const flags = ['--host', '127.0.0.1', '--port', String(port), '--broker', broker, '--log-format', 'json', '--log-level', 'warn',
    '--rate-burst', '100000', '--rate-refill', '100000', '--admission-queue', '20000', '--admission-timeout', '120s', '--handshake-timeout', '120s'];
  if (mode !== 'off') flags.push('--presence');
  if (mode === 'presence+joinLeave') flags.push('--join-leave');
  const gw = spawnGroup(process.execPath, [`${root}dist/cli/main.js`, 'serve', ...flags]);
  const clients: WebSocket[] = [];
  try {
    await waitLine(gw, /"listening"/, 30_000);
    const tally = new Tally();
    for (let i = 0; i < CONNS; i += 200) {
      const batch = Array.from({ length: Math.min(200, CONNS - i) }, () => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
        ws.on('message', (d) => tally.add((JSON.parse(d.toString()) as { type: string }).type));
        ws.on('error', () => {});
        clients.push(ws);
        return new Promise<void>((r, j) => { ws.once('open', () => r()); ws.once('error', j); });
      });
      await bounded(Promise.all(batch), 60_000, 'connections open');
    }
    await bounded(tally.until('welcome', CONNS), 60_000, 'welcomes');
    await sleep(500);
    const pids = [gw.pid!, ...extraPids];
    const phase = async (send: (ws: WebSocket, i: number) => void, done: () => Promise<unknown>): Promise<number> => {
      const c0 = pids.map(cpuSeconds);
      clients.forEach(send);
      await bounded(done(), 300_000, 'phase done');
      await sleep(200); // let the gateway finish what it does after its last write
      return pids.map(cpuSeconds).reduce((sum, c, i) => sum + c - c0[i], 0);
    };
    // With the memory broker every pair of a channel's connections makes exactly one join (the
    // later one's, to the earlier); through Redis a join that arrives while its receiver's own
    // subscribe is still unanswered is not sent to it, and one that arrives just after may reach
    // both of a pair: the counts are what arrived, waited for until they stop growing.
    const channelOf = (i: number): string => `room-${Math.floor(i / CHANNEL_SIZE)}`;

    const subscribeCpu = await phase(
      (ws, i) => ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: channelOf(i) })),
      () => tally.until('subscribed', CONNS).then(() => tally.settled('join', 300)),
    );
    const askCpu = await phase(
      (ws, i) => ws.send(JSON.stringify(mode === 'off' ? { type: 'ping', id: 2 } : { type: 'presence', id: 2, channel: channelOf(i) })),
      () => tally.until(mode === 'off' ? 'pong' : 'presence', CONNS),
    );
    const unsubscribeCpu = await phase(
      (ws, i) => ws.send(JSON.stringify({ type: 'unsubscribe', id: 3, channel: channelOf(i) })),
      () => tally.until('unsubscribed', CONNS).then(() => tally.settled('leave', 300)),
    );
    return {
      mode, broker: broker === 'memory' ? 'memory' : 'redis', conns: CONNS, channelSize: CHANNEL_SIZE, joinFrames: tally.get('join'), leaveFrames: tally.get('leave'),
      usPerSubscribe: (subscribeCpu / CONNS) * 1e6, usPerAsk: (askCpu / CONNS) * 1e6, usPerUnsubscribe: (unsubscribeCpu / CONNS) * 1e6,
    };
  } finally {
    for (const ws of clients) ws.terminate();
    killGroup(gw);
  }
}

const started: ChildProcess[] = [];
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    for (const c of started) killGroup(c);
    process.exit(1);
  });
}

async function main(): Promise<void> {
  const redisPort = await freePort();
  const redis = spawnGroup('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning']);
  const rows: Awaited<ReturnType<typeof measure>>[] = [];
  try {
    await sleep(300);
    for (let run = 0; run < RUNS; run++) {
      for (const [broker, extra] of [['memory', []], [`redis://127.0.0.1:${redisPort}`, [redis.pid!]]] as [string, number[]][]) {
        for (const mode of MODES) {
          console.error(`presence: run ${run + 1}/${RUNS}, ${broker}, ${mode}`);
          rows.push(await measure(mode, broker, extra));
        }
      }
    }
  } finally {
    killGroup(redis);
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const summary = (['memory', 'redis'] as const).flatMap((broker) => MODES.map((mode) => {
    const rs = rows.filter((r) => r.broker === broker && r.mode === mode);
    return { broker, mode, usPerSubscribe: mean(rs.map((r) => r.usPerSubscribe)), usPerAsk: mean(rs.map((r) => r.usPerAsk)), usPerUnsubscribe: mean(rs.map((r) => r.usPerUnsubscribe)), joinFrames: rs[0].joinFrames };
  }));
  mkdirSync(`${root}benchmarks/results`, { recursive: true });
  writeFileSync(`${root}benchmarks/results/presence.json`, `${JSON.stringify({ rows, summary }, null, 2)}\n`);
  const f = (n: number): string => n.toFixed(1);
  const lines = [
    '## Presence and join/leave',
    '',
    `${CONNS} connections in ${Math.ceil(CONNS / CHANNEL_SIZE)} channels of ${CHANNEL_SIZE}, one gateway process; server CPU (gateway, plus redis-server with Redis) per operation, mean of ${RUNS} runs, and the ratio to the same operation with presence and join/leave off in the same run ("ask" with both off is a \`ping\`, the same round trip without the broker). With join/leave each subscribe and unsubscribe also writes a frame to the channel's other subscribers (joins delivered per run: ${summary.filter((s) => s.mode === 'presence+joinLeave').map((s) => `${s.broker} ${s.joinFrames}`).join(', ')}).`,
    '',
    'Reproduce: `npm run bench -- presence` (`FG_BENCH_PRESENCE_CONNS`, `FG_BENCH_PRESENCE_CHANNEL_SIZE`, `FG_BENCH_RUNS` change the sizes). CPU comes from /proc in 10 ms ticks, about ±5 µs per operation at 2,000 operations, on a machine shared with other work: read the ratios, not single figures.',
    '',
    '| broker | mode | µs per subscribe | × off | µs per ask | × off | µs per unsubscribe | × off |',
    '|---|---|---|---|---|---|---|---|',
    ...summary.map((s) => {
      const off = summary.find((o) => o.broker === s.broker && o.mode === 'off')!;
      return `| ${s.broker} | ${s.mode} | ${f(s.usPerSubscribe)} | ${(s.usPerSubscribe / off.usPerSubscribe).toFixed(2)} | ${f(s.usPerAsk)} | ${(s.usPerAsk / off.usPerAsk).toFixed(2)} | ${f(s.usPerUnsubscribe)} | ${(s.usPerUnsubscribe / off.usPerUnsubscribe).toFixed(2)} |`;
    }),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
