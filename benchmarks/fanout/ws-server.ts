/**
 * The fan-out baseline: a plain `ws` pub/sub server as most people write it. It speaks the subset
 * of Floodgate's protocol the suite uses (subscribe → subscribed, publish → message to every
 * subscriber of the channel, published ack), serialises each message once and calls
 * `ws.send()` per subscriber. Prints `{"event":"listening","listen":{"port":N}}` first.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const channels = new Map<string, Set<WebSocket>>();
const offsets = new Map<string, number>();
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('close', () => {
    for (const set of channels.values()) set.delete(ws);
  });
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString()) as { type: string; id?: number; channel: string; data?: unknown };
    if (f.type === 'subscribe') {
      let set = channels.get(f.channel);
      if (!set) channels.set(f.channel, (set = new Set()));
      set.add(ws);
      ws.send(JSON.stringify({ type: 'subscribed', id: f.id, channel: f.channel, epoch: 'e', offset: offsets.get(f.channel) ?? 0 }));
    } else if (f.type === 'publish') {
      const offset = (offsets.get(f.channel) ?? 0) + 1;
      offsets.set(f.channel, offset);
      const text = JSON.stringify({ type: 'message', channel: f.channel, epoch: 'e', offset, data: f.data });
      for (const sub of channels.get(f.channel) ?? []) sub.send(text);
      if (f.id !== undefined) ws.send(JSON.stringify({ type: 'published', id: f.id, channel: f.channel, epoch: 'e', offset }));
    }
  });
});

server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', listen: { port: typeof addr === 'object' && addr ? addr.port : 0 } })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
