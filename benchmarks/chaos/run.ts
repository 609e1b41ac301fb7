// The chaos suite at size: `npm run soak` (FG_BENCH_SOAK=1) runs 200 SDK clients behind a proxy
// cutting 10 % of connections per second, HAProxy, 3 gateways on Redis, a publisher at 500 msg/s
// for 60 s, kill -9 of a gateway and a Redis restart, then kill -9 under a CPU hog on both cores, then
// both under the hog.
// `npm run bench -- chaos` runs the small variant (the one in `npm test`). Prints a markdown section.
import { cpus, loadavg } from 'node:os';
import { formatFigures, runChaos, type ChaosFigures, type ChaosOptions } from '../../test/helpers/chaos.js';

const soak = process.env.FG_BENCH_SOAK === '1';
const base: ChaosOptions = soak
  ? { clients: 200, channels: 10, channelsPerClient: 2, ratePerSecond: 500, seconds: 60, cutPerSecond: 0.1, killAt: 15, redisRestartAt: 35, redisDownMs: 1000 }
  : { clients: 30, channels: 4, ratePerSecond: 100, seconds: 20, cutPerSecond: 0.1, killAt: 5, redisRestartAt: 12, redisDownMs: 1000 };
const log = (l: string): void => void process.stderr.write(`${l}\n`);

const runs: [string, ChaosFigures][] = [];
for (const [name, o] of [
  ['kill -9 + Redis restart', { ...base, log }],
  ['kill -9 under a CPU hog (2 cores)', { ...base, redisRestartAt: undefined, hogCores: 2, log }],
  ['kill -9 + Redis restart under a CPU hog (2 cores)', { ...base, hogCores: 2, log }],
] as [string, ChaosOptions][]) {
  // FG_CHAOS_ONLY=<a word of the run's name> runs the runs whose name holds it (hog, redis, restart under)
  if (process.env.FG_CHAOS_ONLY && !name.toLowerCase().includes(process.env.FG_CHAOS_ONLY)) continue;
  const f = await runChaos(o);
  log(`# ${name}: ${formatFigures(f)}`);
  runs.push([name, f]);
}

const row = (name: string, f: ChaosFigures): string => {
  const healthyDown = Object.entries(f.downEvents).filter(([n]) => n !== f.killed).reduce((n, [, v]) => n + v, 0);
  return `| ${name} | ${f.acknowledged}/${f.published} (${f.resolvedByRetry} after a re-send) | ${JSON.stringify(f.refusedBy)} | ${f.unknown} ${JSON.stringify(f.unknownBy)} | ${f.ackMs.p50} / ${f.ackMs.p99} ms | ${f.deliveries} | ${f.lost} + ${f.undelivered} late | ${f.duplicated} | ${f.outOfOrder} | ${f.refusedButDelivered} | ${JSON.stringify(f.recoveredFalse)} | ${f.reconnects} | ${healthyDown} / ${f.downEvents[f.killed ?? ''] ?? 0} | ${f.seconds} s |`;
};
console.log(`## chaos (${soak ? 'soak' : 'small'}: ${base.clients} clients × ${base.channels} channels, ${base.ratePerSecond} msg/s for ${base.seconds} s, ${base.cutPerSecond * 100} % of connections cut per second)

| run | acknowledged | refused (not published) | outcome unknown | answer p50 / p99 | deliveries | lost | duplicated | out of order | refused but delivered | recovered:false by reason | reconnects | down events healthy / killed | time |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${runs.map(([n, f]) => row(n, f)).join('\n')}

Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(', ')} (1, 5, 15 min) on ${cpus().length} cores.
`);
const bad = runs.some(([, f]) => f.lost + f.undelivered + f.duplicated + f.outOfOrder + f.refusedButDelivered > 0);
process.exit(bad ? 1 : 0);
