/**
 * The Socket.IO peer of the fan-out suite: a Socket.IO 4 server as its documentation writes
 * pub/sub (a room per channel, `io.to(channel).emit`), WebSocket transport only, no
 * compression (its default). Socket.IO encodes a broadcast once and, with engine.io 6,
 * frames it once for all the room's WebSockets. Events: `subscribe` (channel) → `subscribed`;
 * `publish` ({channel, data}) → `message` ({channel, offset, data}) to the room and `published`
 * to the publisher. Prints `{"event":"listening","listen":{"port":N}}` first.
 * Bench-only: socket.io is a devDependency for this file and nothing else.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const offsets = new Map<string, number>();
const server = createServer();
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false, maxHttpBufferSize: 64 * 1024 });

io.on('connection', (socket) => {
  socket.on('subscribe', (channel: string) => {
    void socket.join(channel);
    socket.emit('subscribed', { channel, offset: offsets.get(channel) ?? 0 });
  });
  socket.on('publish', (f: { channel: string; data: unknown }) => {
    const offset = (offsets.get(f.channel) ?? 0) + 1;
    offsets.set(f.channel, offset);
    io.to(f.channel).emit('message', { channel: f.channel, offset, data: f.data });
    socket.emit('published', { channel: f.channel, offset });
  });
});

server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', listen: { port: typeof addr === 'object' && addr ? addr.port : 0 } })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
