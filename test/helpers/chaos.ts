import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Client, type PublishResult } from '../../src/client/index.js';
import type { FloodgateError } from '../../src/errors.js';
import { CpuHog } from './cpu-hog.js';
import { CuttingProxy } from './cutting-proxy.js';
import { Haproxy } from './haproxy.js';
import { freePort, startRedis, type RedisServer } from './redis-server.js';
import { startGateway, type GatewayProcess } from './scale-gateway.js';

/**
 * The chaos run: SDK clients → a cutting TCP proxy → HAProxy (the docs/operations.md config) →
 * 3 gateways → Redis. A publisher (an SDK client behind the same proxy) numbers its messages per
 * channel; a gateway is killed with SIGKILL and Redis is restarted empty, optionally under a CPU
 * hog on every core. What comes out is checked against what the publisher was told:
 *  - lost: acknowledged, never delivered to a subscriber, and not covered by a `recovered: false`;
 *  - duplicated: one publish (channel, seq) delivered twice (two offsets, or twice the same);
 *  - out of order: a channel's publisher seq not increasing at a subscriber;
 *  - refused but delivered: answered "definitely not published" (FG_ERR_PUBLISH_FAILED, …) and
 *    yet delivered — the outcome codes would be lying.
 */
export interface ChaosOptions {
  clients: number;
  channels: number;
  /** Channels each client subscribes to (spread round the channels). @default all */
  channelsPerClient?: number;
  ratePerSecond: number;
  seconds: number;
  /** Share of the proxied connections cut per second (0.1 = 10 %/s). */
  cutPerSecond: number;
  /** Seconds into the run: SIGKILL one gateway. */
  killAt?: number;
  /** Seconds into the run: SIGKILL Redis and start it again, empty, after redisDownMs. */
  redisRestartAt?: number;
  redisDownMs?: number;
  /** The publisher's requestTimeout (ms). @default 20000 */
  publishTimeoutMs?: number;
  /** Burn every core (bounded by `timeout`) for the whole run. */
  hogCores?: number;
  log?: (line: string) => void;
}

export interface ChaosFigures {
  published: number;
  acknowledged: number;
  duplicateAnswers: number;
  refused: Record<string, number>;
  /** Refusals by what was said: the broker was down, the SDK did not send it in time, … */
  refusedBy: Record<string, number>;
  unknown: number;
  /** Outcome-unknown answers by what the SDK said (requestTimeout ran out, a re-send refused as stale, …). */
  unknownBy: Record<string, number>;
  /** Acknowledged after the SDK re-sent them (reconnect or an outcome-unknown answer): unknowns the safe retry resolved. */
  resolvedByRetry: number;
  /** Publish → answer, ms, over the acknowledged ones: median, 99th percentile, max. */
  ackMs: { p50: number; p99: number; max: number };
  /** The harness's own event-loop delay (its clients, proxy and publisher share one process), max ms. */
  harnessLagMaxMs: number;
  deliveries: number;
  lost: number;
  /** Acknowledged, not delivered by the end of the drain, and nothing later arrived either. */
  undelivered: number;
  duplicated: number;
  outOfOrder: number;
  refusedButDelivered: number;
  /** Refused on one side of Redis losing its data, delivered in an epoch on the other side (keys and seqs went with the data; documented limit). */
  refusedThenAppliedAfterDataLoss: number;
  gaps: number;
  recoveredFalse: Record<string, number>;
  reconnects: number;
  cuts: number;
  /** HAProxy "is DOWN" events per server; `killed` names the SIGKILLed one. */
  downEvents: Record<string, number>;
  killed: string | undefined;
  seconds: number;
}

interface Got {
  epoch: string;
  offset: number;
  seq: number;
}

/** One subscriber × channel: what arrived, and the ranges a `recovered: false` excused. */
interface Track {
  ch: string;
  /** A recovered:false without a position: the next message is the start, what came before it is excused. */
  awaitingStart: boolean;
  got: Got[];
  /** [epoch, fromOffset (exclusive), toOffset (inclusive; Infinity = the rest of that epoch)] */
  excused: [string, number, number][];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runChaos(o: ChaosOptions): Promise<ChaosFigures> {
  const log = o.log ?? (() => {});
  const started = Date.now();
  const hog = new CpuHog();
  let redis: RedisServer | undefined;
  const gateways: GatewayProcess[] = [];
  let lb: Haproxy | undefined;
  let cutter: CuttingProxy | undefined;
  const clients: Client[] = [];
  let publisher: Client | undefined;
  let killed: string | undefined;
  try {
    redis = await startRedis();
    const healthPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const hp = await freePort();
      healthPorts.push(hp);
      gateways.push(await startGateway(await freePort(), [
        '--broker', redis.url, '--node-id', `g${i + 1}`, '--health-port', String(hp),
        '--rate-burst', '100000', '--rate-refill', '100000', '--log-level', 'warn', '--history-size', '10000',
      ], {}, 60_000)); // a loaded box (a previous run's hog, other suites) starts slowly
    }
    lb = new Haproxy(await freePort(), gateways.map((g) => g.port), healthPorts);
    await lb.start();
    cutter = await new CuttingProxy(lb.port).start();
    const url = `ws://127.0.0.1:${cutter.port}/`;
    const channels = Array.from({ length: o.channels }, (_, i) => `chaos-${i}`);
    const clientOpts = { initialDelay: 100, maxDelay: 2000, jitterMode: 'full' as const, circuitThreshold: 0, connectTimeout: 5000, pingInterval: 5000, pongTimeout: 5000 };

    const tracks: Track[] = [];
    let gaps = 0;
    const recoveredFalse: Record<string, number> = {};
    for (let i = 0; i < o.clients; i++) {
      const c = new Client(url, clientOpts);
      clients.push(c);
      const per = Math.min(o.channelsPerClient ?? channels.length, channels.length);
      for (let j = 0; j < per; j++) {
        const ch = channels[(i + j) % channels.length];
        const t: Track = { ch, awaitingStart: false, got: [], excused: [] };
        tracks.push(t);
        const sub = c.subscribe(ch, (m) => {
          if (t.awaitingStart) {
            t.awaitingStart = false;
            t.excused.push([m.epoch, 0, m.offset - 1]);
          }
          t.got.push({ epoch: m.epoch, offset: m.offset, seq: (m.data as { seq: number }).seq });
        });
        sub.on('gap', () => gaps++);
        sub.on('subscribed', (ev) => {
          if (!ev.recovering || ev.recovered) return;
          recoveredFalse[ev.reason ?? 'unknown'] = (recoveredFalse[ev.reason ?? 'unknown'] ?? 0) + 1;
          // what the subscriber missed is excused: the rest of the epoch it knew, and the new
          // position's epoch up to the offset it was given
          const last = t.got[t.got.length - 1];
          if (ev.epoch === '') {
            // position unknown (`unavailable`, nothing seen): excused up to the next message
            if (last !== undefined) t.excused.push([last.epoch, last.offset, Infinity]);
            t.awaitingStart = true;
          } else if (last !== undefined && last.epoch === ev.epoch) {
            t.excused.push([ev.epoch, last.offset, ev.offset]);
          } else {
            if (last !== undefined) t.excused.push([last.epoch, last.offset, Infinity]);
            t.excused.push([ev.epoch, 0, ev.offset]);
          }
        });
      }
    }
    await Promise.all(clients.map((c) => c.ready(120_000)));
    const subsReady = Date.now() + 120_000;
    while (tracks.some((t, i) => clients[Math.floor(i / Math.min(o.channelsPerClient ?? channels.length, channels.length))].getSubscription(t.ch)?.state !== 'subscribed') && Date.now() < subsReady) await sleep(50);
    log(`# chaos: ${o.clients} clients × ${o.channelsPerClient ?? o.channels} of ${o.channels} channels subscribed through the cutting proxy → HAProxy → 3 gateways`);

    publisher = new Client(url, { ...clientOpts, requestTimeout: o.publishTimeoutMs ?? 20_000 });
    await publisher.ready(30_000);
    if (o.hogCores) hog.start(o.hogCores, o.seconds + 120);
    cutter.cutEvery(100, o.cutPerSecond / 10);

    const nextSeq = channels.map(() => 0);
    const acked = new Map<string, Map<number, PublishResult>>(channels.map((ch) => [ch, new Map()]));
    /** seq → when the refusal came (ms) */
    const refusedSeqs = new Map<string, Map<number, number>>(channels.map((ch) => [ch, new Map()]));
    let redisLostAt = Infinity;
    const refused: Record<string, number> = {};
    const refusedBy: Record<string, number> = {};
    let unknown = 0;
    const unknownBy: Record<string, number> = {};
    let resolvedByRetry = 0;
    const ackMs: number[] = [];
    const lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    let duplicateAnswers = 0;
    const outcomes: Promise<void>[] = [];
    const total = Math.round(o.ratePerSecond * o.seconds);
    const t0 = Date.now();
    // once a second: the publisher's unanswered publishes and the harness's own loop delay, to
    // tell a slow path from a slow harness when answers come late
    const timeline: string[] = [];
    const tick = monitorEventLoopDelay({ resolution: 20 });
    tick.enable();
    let ackedBefore = 0;
    const sampler = setInterval(() => {
      const done = ackMs.length;
      timeline.push(`${Math.round((Date.now() - t0) / 1000)}s:${publisher!.stats().pendingRequests}p/${done - ackedBefore}a/${Math.round(tick.max / 1e6)}ms`);
      ackedBefore = done;
      tick.reset();
    }, 1000);
    let redisRestart: Promise<void> | undefined;
    for (let n = 0; n < total; n++) {
      const due = t0 + (n * 1000) / o.ratePerSecond;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const elapsed = (Date.now() - t0) / 1000;
      if (o.killAt !== undefined && killed === undefined && elapsed >= o.killAt) {
        killed = 'g2';
        log(`# chaos: kill -9 ${killed} at ${elapsed.toFixed(1)} s`);
        void gateways[1].stop('SIGKILL');
      }
      if (o.redisRestartAt !== undefined && redisRestart === undefined && elapsed >= o.redisRestartAt) {
        log(`# chaos: Redis SIGKILL at ${elapsed.toFixed(1)} s, back empty after ${o.redisDownMs ?? 1000} ms`);
        const r = redis;
        redisLostAt = Date.now();
        redisRestart = r.kill().then(() => sleep(o.redisDownMs ?? 1000)).then(() => r.start());
      }
      const k = n % channels.length;
      const ch = channels[k];
      const seq = ++nextSeq[k];
      const sentAt = Date.now();
      outcomes.push(publisher.publish(ch, { seq }).then(
        (r) => {
          acked.get(ch)!.set(seq, r);
          ackMs.push(Date.now() - sentAt);
          if (r.duplicate) duplicateAnswers++;
          if (r.retries) resolvedByRetry++;
        },
        (e: FloodgateError) => {
          if (e.code === 'FG_ERR_PUBLISH_UNKNOWN') {
            unknown++;
            const why = unknownKind(e);
            unknownBy[why] = (unknownBy[why] ?? 0) + 1;
          }
          else {
            refused[e.code] = (refused[e.code] ?? 0) + 1;
            const why = refusedKind(e);
            refusedBy[why] = (refusedBy[why] ?? 0) + 1;
            refusedSeqs.get(ch)!.set(seq, Date.now());
          }
        },
      ));
    }
    await redisRestart;
    await Promise.all(outcomes);
    clearInterval(sampler);
    tick.disable();
    log(`# chaos: timeline (unanswered publishes p / answers that second a / harness loop delay max): ${timeline.join(' ')}`);
    lag.disable();
    ackMs.sort((a, b) => a - b);
    const pct = (q: number): number => (ackMs.length === 0 ? 0 : ackMs[Math.min(ackMs.length - 1, Math.floor(q * ackMs.length))]);
    cutter.stopCutting();
    hog.stop();

    // drain: every subscriber reaches the last acknowledged offset of each channel's final epoch
    const finalPos = new Map<string, { epoch: string; offset: number }>();
    for (const ch of channels) {
      const bySeq = [...acked.get(ch)!.entries()].sort((a, b) => a[0] - b[0]);
      if (bySeq.length > 0) {
        const lastEpoch = bySeq[bySeq.length - 1][1].epoch;
        const maxOff = Math.max(...bySeq.filter(([, r]) => r.epoch === lastEpoch).map(([, r]) => r.offset));
        finalPos.set(ch, { epoch: lastEpoch, offset: maxOff });
      }
    }
    const caughtUp = (t: Track, ch: string): boolean => {
      const f = finalPos.get(ch);
      if (f === undefined) return true;
      return t.got.some((g) => g.epoch === f.epoch && g.offset >= f.offset) || t.excused.some(([e, , to]) => e === f.epoch && to >= f.offset);
    };
    const drainUntil = Date.now() + 60_000;
    while (Date.now() < drainUntil && tracks.some((t) => !caughtUp(t, t.ch))) await sleep(100);

    // the verdict
    let lost = 0;
    let undelivered = 0;
    let duplicated = 0;
    let outOfOrder = 0;
    let refusedButDelivered = 0;
    let refusedThenAppliedAfterDataLoss = 0;
    const epochsSeen = new Map<string, Set<string>>(channels.map((ch) => [ch, new Set([...acked.get(ch)!.values()].map((r) => r.epoch))]));
    let deliveries = 0;
    tracks.forEach((t) => {
      const ch = t.ch;
      deliveries += t.got.length;
      const seen = new Set<number>();
      let prev = 0;
      for (const g of t.got) {
        if (seen.has(g.seq)) duplicated++;
        seen.add(g.seq);
        if (g.seq <= prev) outOfOrder++;
        prev = Math.max(prev, g.seq);
        const refusedAt = refusedSeqs.get(ch)!.get(g.seq);
        if (refusedAt !== undefined) {
          // refused before Redis lost its data, delivered in the epoch after: a stale copy the
          // broker could no longer recognise (keys and seqs went with the data; documented)
          const postLoss = g.epoch === finalPos.get(ch)?.epoch && epochsSeen.get(ch)!.size > 1;
          if ((refusedAt < redisLostAt && postLoss) || (refusedAt >= redisLostAt && !postLoss)) refusedThenAppliedAfterDataLoss++;
          else refusedButDelivered++;
        }
      }
      const have = new Set(t.got.map((g) => `${g.epoch}/${g.offset}`));
      const maxIn = new Map<string, number>();
      const lastIndex = new Map<string, number>();
      t.got.forEach((g, k) => {
        maxIn.set(g.epoch, Math.max(maxIn.get(g.epoch) ?? 0, g.offset));
        lastIndex.set(g.epoch, k);
      });
      for (const r of acked.get(ch)!.values()) {
        if (have.has(`${r.epoch}/${r.offset}`)) continue;
        if (t.excused.some(([e, from, to]) => e === r.epoch && r.offset > from && r.offset <= to)) continue;
        // a hole (something later in that epoch arrived) is a loss; past the last arrival it may
        // only be late (the drain ceiling ran out on an overloaded box)
        const li = lastIndex.get(r.epoch);
        const movedOn = li !== undefined && li < t.got.length - 1; // later arrivals are of another epoch
        if ((maxIn.get(r.epoch) ?? 0) > r.offset || movedOn) lost++;
        else undelivered++;
      }
    });
    const stats = [...clients, publisher].map((c) => c.stats());
    const figures: ChaosFigures = {
      published: total,
      acknowledged: [...acked.values()].reduce((n, m) => n + m.size, 0),
      duplicateAnswers,
      refused,
      refusedBy,
      unknown,
      unknownBy,
      resolvedByRetry,
      ackMs: { p50: pct(0.5), p99: pct(0.99), max: ackMs[ackMs.length - 1] ?? 0 },
      harnessLagMaxMs: Math.round(lag.max / 1e6),
      deliveries,
      lost,
      undelivered,
      duplicated,
      outOfOrder,
      refusedButDelivered,
      refusedThenAppliedAfterDataLoss,
      gaps,
      recoveredFalse,
      reconnects: stats.reduce((n, s) => n + Math.max(0, s.connects - 1), 0),
      cuts: cutter.cuts,
      downEvents: lb.downEvents(),
      killed,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    for (const line of lb.downLines()) log(`# chaos: haproxy: ${line.slice(0, 400)}`);
    for (const g of gateways) {
      const lines = g.stderr.trim().split('\n').filter(Boolean);
      log(`# chaos: gateway ${g.port} logged ${lines.length} warn/error lines; last: ${lines.slice(-3).map((l) => l.slice(0, 300)).join(' | ')}`);
    }
    return figures;
  } finally {
    hog.stop();
    cutter?.stopCutting();
    await Promise.all([...clients, ...(publisher ? [publisher] : [])].map((c) => c.close()));
    await cutter?.stop();
    await lb?.stop();
    await Promise.all(gateways.map((g) => g.stop('SIGTERM')));
    await redis?.kill();
  }
}

/** What an outcome-unknown rejection says happened, as a short label for the figures. */
function unknownKind(e: FloodgateError): string {
  if (e.details?.cause === 'FG_ERR_PUBLISH_OUT_OF_ORDER') return 're-send refused as stale';
  if (/requestTimeout/.test(e.message)) return 'no answer within requestTimeout';
  if (/idempotencyWindow 0/.test(e.message)) return 'dropped, server does not deduplicate';
  return e.message.slice(0, 80);
}

function refusedKind(e: FloodgateError): string {
  if (/would run out before an answer/.test(e.message)) return 'SDK: not sent, no answer possible in time';
  if (/not sent within requestTimeout/.test(e.message)) return 'SDK: not sent within requestTimeout';
  if (/redis broker unavailable|isn't writeable/.test(e.message)) return 'gateway: Redis down, not sent to Redis';
  return `${e.code}: ${e.message.slice(0, 60)}`;
}

export function formatFigures(f: ChaosFigures): string {
  return [
    `published ${f.published}, acknowledged ${f.acknowledged} (${f.resolvedByRetry} after a re-send, ${f.duplicateAnswers} of them answered as duplicates), refused ${JSON.stringify(f.refusedBy)}, outcome unknown ${f.unknown} ${JSON.stringify(f.unknownBy)}`,
    `publish → answer ms p50 ${f.ackMs.p50}, p99 ${f.ackMs.p99}, max ${f.ackMs.max}; harness event-loop delay max ${f.harnessLagMaxMs} ms`,
    `deliveries ${f.deliveries}: lost ${f.lost}, not delivered by the end of the drain ${f.undelivered}, duplicated ${f.duplicated}, out of publisher order ${f.outOfOrder}, refused-but-delivered ${f.refusedButDelivered} (+ ${f.refusedThenAppliedAfterDataLoss} across Redis losing its data), gap events ${f.gaps}`,
    `recovered:false by reason ${JSON.stringify(f.recoveredFalse)}; reconnects ${f.reconnects}, proxy cuts ${f.cuts}; HAProxy down events ${JSON.stringify(f.downEvents)} (killed: ${f.killed ?? 'none'}); ${f.seconds} s`,
  ].join('\n# ');
}
