/**
 * Child process of test/serial/client-leaks.test.ts: runs connect/disconnect cycles of the
 * client SDK against the targets given in FG_LEAK_TARGETS and prints one JSON line with the
 * open file descriptors (/proc/self/fd) and active resources before and after. Running in its
 * own process keeps the servers' sockets out of the counts.
 */
import { readdirSync } from 'node:fs';
import { Client } from '../../../src/client/index.js';

interface Targets {
  ok: string;
  refused: string;
  reset: string;
  hang: string;
  busy: string;
}

const targets = JSON.parse(process.env.FG_LEAK_TARGETS ?? '{}') as Targets;
const total = Number(process.env.FG_LEAK_CYCLES ?? 10_000);
const concurrency = Number(process.env.FG_LEAK_CONCURRENCY ?? 50);
const kinds = ['ok', 'refused', 'reset', 'hang', 'busy'] as const;
type Kind = (typeof kinds)[number];

const fds = () => readdirSync('/proc/self/fd').length;
const resources = () => {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
};

const opts = { initialDelay: 1000, circuitThreshold: 0, connectTimeout: 30, closeTimeout: 500 };

async function cycle(kind: Kind, n: number): Promise<void> {
  if (kind === 'ok') {
    const c = new Client(targets.ok, { ...opts, connectTimeout: 5000 });
    await c.ready(5000);
    if (n % 4 === 0) {
      c.subscribe(`leak-${n % 7}`);
      await c.publish(`leak-${n % 7}`, n);
    }
    await c.close();
    return;
  }
  const c = new Client(targets[kind], opts);
  if (kind === 'hang' && n % 2 === 0) {
    // close in the middle of the handshake
    await new Promise((r) => setTimeout(r, 2));
  } else {
    // wait until the attempt failed (refused, reset, 503, or connectTimeout): a retry is now scheduled
    await new Promise<void>((resolve) => c.once('error', () => resolve()));
  }
  await c.close();
}

async function run(count: number): Promise<Record<Kind, number>> {
  const done: Record<Kind, number> = { ok: 0, refused: 0, reset: 0, hang: 0, busy: 0 };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = next++;
      const kind = kinds[n % kinds.length];
      await cycle(kind, n);
      done[kind]++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done;
}

const settle = () => new Promise((r) => setTimeout(r, 50));

// Warm up once per kind: loads the `ws` module and JIT paths so the baseline is steady.
await run(kinds.length * 2);
// The baseline waits (bounded) for the warm-up's sockets to finish closing: a socket still closing
// here made the baseline one fd higher than the end state on a loaded machine.
const snapshot = () => ({ fds: fds(), resources: resources() });
let before = snapshot();
for (let i = 0, same = 0; i < 100 && same < 3; i++) {
  await settle();
  const now = snapshot();
  const steady = JSON.stringify(now) === JSON.stringify(before) && !now.resources.TCPSocketWrap;
  same = steady ? same + 1 : 0;
  before = now;
}
const started = Date.now();
const done = await run(total);
const ms = Date.now() - started;
// Sockets close asynchronously in libuv: wait (bounded) for the counts to come back.
let after = { fds: fds(), resources: resources() };
for (let i = 0; i < 100 && (after.fds !== before.fds || JSON.stringify(after.resources) !== JSON.stringify(before.resources)); i++) {
  await settle();
  after = { fds: fds(), resources: resources() };
}
process.stdout.write(JSON.stringify({ before, after, done, ms, rss: process.memoryUsage().rss }) + '\n');
