/**
 * The Socket.IO peer: a Socket.IO 4 server as its guide sets one up (an http.Server, `new Server`),
 * limited to the WebSocket transport (the load generator speaks WebSocket only; long-polling
 * would be another protocol) and without compression, like the other servers in the suite.
 * A client counts as connected once it has sent the namespace connect packet `40` and received
 * the server's `40{"sid":…}`, i.e. when the application's `connection` handler runs.
 * Prints its port as the first line of stdout, as the other servers of the suite do.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const backlog = Number(process.argv[2] ?? 511);
const httpServer = createServer();
const io = new Server(httpServer, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
io.on('connection', (socket) => socket.on('error', () => {}));
httpServer.listen({ host: '127.0.0.1', port: 0, backlog }, () => {
  const addr = httpServer.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', listen: { port: typeof addr === 'object' && addr ? addr.port : 0 } })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
