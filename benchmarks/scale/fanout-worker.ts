/**
 * Fan-out subscriber process for the scale suite: opens `count` WebSocket clients spread over the
 * given ports, subscribes each to one channel, and counts `message` frames. Reports 'ready' when
 * all are subscribed and 'done' (with the wall-clock time) when every client has `expect` messages.
 * Parent → child: {cmd:'open', ports, count, channel, expect} | {cmd:'expect', expect} | {cmd:'close'}.
 * 'expect' lowers the target once the publisher knows how many publications the gateway accepted
 * (a refused one is never delivered, so waiting for it would only run into the time bound).
 */
import { WebSocket } from 'ws';

interface OpenCmd { cmd: 'open'; ports: number[]; count: number; channel: string; expect: number }

const clients: WebSocket[] = [];
const got: number[] = [];
const finished: boolean[] = [];
let target = Infinity;
let complete = 0;
let doneSent = false;

function check(i: number): void {
  if (finished[i] || got[i] < target) return;
  finished[i] = true;
  if (++complete === clients.length && !doneSent) {
    doneSent = true;
    process.send!({ type: 'done', at: Date.now() });
  }
}

function open(cmd: OpenCmd): void {
  let subscribed = 0;
  target = cmd.expect;
  const prefix = '{"type":"message"';
  for (let i = 0; i < cmd.count; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${cmd.ports[i % cmd.ports.length]}/`, { perMessageDeflate: false });
    const index = clients.push(ws) - 1;
    got.push(0);
    finished.push(false);
    ws.on('error', (err) => process.send!({ type: 'error', message: err.message }));
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel: cmd.channel })));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith(prefix)) {
        got[index]++;
        check(index);
      } else if (text.includes('"subscribed"')) {
        if (++subscribed === cmd.count) process.send!({ type: 'ready' });
      }
    });
  }
}

process.on('message', (msg: OpenCmd | { cmd: 'expect'; expect: number } | { cmd: 'close' }) => {
  if (msg.cmd === 'open') open(msg);
  else if (msg.cmd === 'expect') {
    target = msg.expect;
    for (let i = 0; i < clients.length; i++) check(i);
  } else {
    for (const ws of clients) ws.terminate();
    process.send!({ type: 'closed' });
    setTimeout(() => process.exit(0), 50);
  }
});
