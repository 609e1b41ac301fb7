/**
 * One subscriber process for benchmarks/client/run.ts: subscribes to a channel with the SDK
 * (`sdk`) or with a bare `ws` socket and JSON.parse (`ws`, the baseline), prints "ready", counts
 * N messages, then prints its CPU time and elapsed time as JSON.
 */
import { WebSocket } from 'ws';
import { Client } from '../../src/client/index.js';

const [mode, url, channel, nText] = process.argv.slice(2);
const N = Number(nText);
let count = 0;
let started = 0;
let cpu0 = process.cpuUsage();
let sum = 0;

function onMessage(offset: number): void {
  if (count === 0) {
    started = performance.now();
    cpu0 = process.cpuUsage();
  }
  sum += offset;
  if (++count === N) finish();
}

function finish(): void {
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ mode, count, elapsedMs: performance.now() - started, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, rss: process.memoryUsage().rss, sum }) + '\n');
  process.exit(0);
}

if (mode === 'sdk') {
  const c = new Client(url, { pingInterval: 0 });
  const sub = c.subscribe(channel, (m) => onMessage(m.offset));
  sub.on('subscribed', () => process.stdout.write('ready\n'));
} else {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel }));
    else if (f.type === 'subscribed') process.stdout.write('ready\n');
    else if (f.type === 'message') onMessage(f.offset);
  });
}
