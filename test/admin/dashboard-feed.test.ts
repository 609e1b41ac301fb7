// The dashboard's event stream over real sockets (docs/dashboard.md, "Cost"): a tab that stops
// reading is dropped once too much waits for it, the others keep their ticks, and a tab that
// opens later gets the samples collected since watching began.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway } from '../../src/server/gateway.js';
import { DashboardFeed } from '../../src/admin/dashboard-feed.js';

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads an event stream, keeping each event's name and the `t` of its sample(s). */
function reader(socketPath: string): { events: { event: string; t: number[] }[]; stop(): void } {
  const events: { event: string; t: number[] }[] = [];
  let response: IncomingMessage | undefined;
  const req = get({ socketPath, path: '/', agent: false }, (res) => {
    response = res;
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = JSON.parse(block.slice(block.indexOf('data: ') + 6));
        events.push({ event, t: Array.isArray(data) ? data.map((s: { t: number }) => s.t) : [data.t] });
      }
    });
  });
  req.on('error', () => {});
  return { events, stop: () => { response?.destroy(); req.destroy(); } };
}

test('a watcher that stops reading is dropped past maxBufferedBytes; a new one gets the samples since watching began', { timeout: 120_000 }, async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  // 300 KB per sample over a Unix socket (small, fixed kernel buffers, unlike loopback TCP's
  // autotuned megabytes): the stalled watcher's backlog passes 256 KiB within a few ticks
  const padding = 'x'.repeat(300 * 1024);
  const feed = new DashboardFeed({ stats: () => ({ ...g.stats(), node: padding }), intro: () => ({ hello: 1 }), maxBufferedBytes: 256 * 1024 });
  const http = createServer((_req, res) => feed.attach(res));
  const dir = mkdtempSync(join(tmpdir(), 'fg-feed-'));
  const path = join(dir, 'feed.sock');
  await new Promise<void>((r) => http.listen(path, r));
  const stalled = connect(path);
  stalled.on('error', () => {});
  const fast = reader(path);
  let late: ReturnType<typeof reader> | undefined;
  try {
    await new Promise<void>((r) => stalled.once('connect', () => r()));
    stalled.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause(); // reads nothing from now on
    const stalledClosed = new Promise<void>((r) => stalled.once('close', () => r()));
    await until(() => feed.watching === 2, 'both watchers attached', 10_000);

    await until(() => feed.watching === 1, 'the stalled watcher to be dropped');
    stalled.resume(); // let it read what was sent, up to the server's close
    await stalledClosed;
    assert.equal(feed.ticking, true, 'the reading watcher keeps the feed going');
    const ticksAtDrop = feed.ticks;
    await until(() => fast.events.filter((e) => e.event === 'message').length >= ticksAtDrop, 'the reading watcher has every tick so far');

    // a tab that opens now: intro, then the history of every sample since the first watcher came
    late = reader(path);
    await until(() => late!.events.length >= 2, 'the late watcher\'s intro and history');
    assert.deepEqual(late.events.slice(0, 2).map((e) => e.event), ['intro', 'history']);
    const history = late.events[1].t;
    const seen = [fast.events[1].t[0], ...fast.events.filter((e) => e.event === 'message').map((e) => e.t[0])];
    // the first sample is taken when watching starts; then one per tick, the same the others got
    assert.deepEqual(history, seen.slice(0, history.length));
    assert.ok(history.length >= ticksAtDrop + 1, `${history.length} samples, ${ticksAtDrop} ticks before the drop`);
  } finally {
    stalled.destroy();
    fast.stop();
    late?.stop();
    feed.close();
    await new Promise<void>((r) => http.close(() => r()));
    await g.close(1000);
    rmSync(dir, { recursive: true, force: true });
  }
});
