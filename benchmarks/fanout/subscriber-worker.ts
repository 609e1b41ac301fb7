/**
 * Subscriber process of the fan-out suite: opens `count` WebSocket clients to one server,
 * subscribes each to one channel, and reports to the parent when every one of its clients has
 * received message number k (so the parent can run closed-loop bursts). Delivery latency is
 * taken from the publisher's timestamp in each message (same machine, same clock) for one
 * client in `sampleEvery`, and sent back as a list when asked.
 * With `socketio: true` the clients speak Socket.IO 4 over a bare `ws` client (Engine.IO v4 text
 * packets: `0` open → `40` connect, `2` ping → `3` pong, `42[event, payload]`), so every server
 * is driven by the same client library and the client side costs the same.
 * Parent → child: {cmd:'open', port, count, channel, socketio?, path?} | {cmd:'latencies'} | {cmd:'close'}.
 * Child → parent: {type:'ready'} | {type:'got', seq} | {type:'latencies', ms:[…]} | {type:'error', message}.
 */
import { WebSocket } from 'ws';

interface OpenCmd { cmd: 'open'; port: number; count: number; channel: string; sampleEvery: number; socketio?: boolean; path?: string }

/**
 * A Socket.IO text packet as this suite's frames: answers the protocol's own packets on `ws`
 * (returns undefined for those) and turns `42["message",{…}]` into {type:'message', data}.
 */
function fromSocketIo(ws: WebSocket, text: string, channel: string): { type: string; data?: { seq: number; t: number } } | undefined {
  if (text.startsWith('42')) {
    const [event, payload] = JSON.parse(text.slice(2)) as [string, { data?: { seq: number; t: number } }];
    return { type: event, data: payload?.data };
  }
  if (text === '2') ws.send('3');
  else if (text.startsWith('0')) ws.send('40');
  else if (text.startsWith('40')) ws.send(`42${JSON.stringify(['subscribe', channel])}`);
  return undefined;
}

const clients: WebSocket[] = [];
const latencies: number[] = [];
/** seq → clients of this process that have it; reported when it reaches the client count. */
const seen = new Map<number, number>();
const now = () => performance.timeOrigin + performance.now();

/** Connections opening at once: a gentle ramp, since the suite measures fan-out, not bursts. */
const OPENING = 200;

function open(cmd: OpenCmd): void {
  let subscribed = 0;
  let started = 0;
  const startNext = () => {
    if (started < cmd.count) openOne(started++);
  };
  for (let i = 0; i < Math.min(OPENING, cmd.count); i++) startNext();
  function openOne(i: number): void {
    const ws = new WebSocket(`ws://127.0.0.1:${cmd.port}${cmd.path ?? '/'}`, { perMessageDeflate: false });
    clients.push(ws);
    const sampled = i % cmd.sampleEvery === 0;
    ws.on('error', (err) => process.send!({ type: 'error', message: err.message }));
    if (!cmd.socketio) ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: cmd.channel })));
    ws.on('message', (raw) => {
      const f = cmd.socketio
        ? fromSocketIo(ws, raw.toString(), cmd.channel)
        : JSON.parse(raw.toString()) as { type: string; data?: { seq: number; t: number } };
      if (f === undefined) return;
      if (f.type === 'message' && f.data) {
        if (sampled) latencies.push(now() - f.data.t);
        const n = (seen.get(f.data.seq) ?? 0) + 1;
        if (n === cmd.count) {
          seen.delete(f.data.seq);
          process.send!({ type: 'got', seq: f.data.seq });
        } else {
          seen.set(f.data.seq, n);
        }
      } else if (f.type === 'subscribed') {
        if (++subscribed === cmd.count) process.send!({ type: 'ready' });
        startNext();
      }
    });
  }
}

process.on('message', (msg: OpenCmd | { cmd: 'latencies' } | { cmd: 'close' }) => {
  if (msg.cmd === 'open') open(msg);
  else if (msg.cmd === 'latencies') {
    process.send!({ type: 'latencies', ms: latencies.splice(0) });
    seen.clear();
  } else {
    for (const ws of clients) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
