/**
 * Fan-out subscriber process for the scale suite: opens `count` WebSocket clients spread over the
 * given ports, subscribes each to one channel, and counts `message` frames. Reports 'ready' when
 * all are subscribed and 'done' (with the wall-clock time) when every client has `expect` messages.
 * Parent → child: {cmd:'open', ports, count, channel, expect} | {cmd:'close'}.
 */
import { WebSocket } from 'ws';

interface OpenCmd { cmd: 'open'; ports: number[]; count: number; channel: string; expect: number }

const clients: WebSocket[] = [];

function open(cmd: OpenCmd): void {
  let subscribed = 0;
  let complete = 0;
  const prefix = '{"type":"message"';
  for (let i = 0; i < cmd.count; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${cmd.ports[i % cmd.ports.length]}/`, { perMessageDeflate: false });
    clients.push(ws);
    let got = 0;
    ws.on('error', (err) => process.send!({ type: 'error', message: err.message }));
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel: cmd.channel })));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith(prefix)) {
        if (++got === cmd.expect && ++complete === cmd.count) process.send!({ type: 'done', at: Date.now() });
      } else if (text.includes('"subscribed"')) {
        if (++subscribed === cmd.count) process.send!({ type: 'ready' });
      }
    });
  }
}

process.on('message', (msg: OpenCmd | { cmd: 'close' }) => {
  if (msg.cmd === 'open') open(msg);
  else {
    for (const ws of clients) ws.terminate();
    process.send!({ type: 'closed' });
    setTimeout(() => process.exit(0), 50);
  }
});
