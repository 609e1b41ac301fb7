/** The baseline: a plain `ws` server as most people run it, with an explicit backlog. Prints its port. */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const backlog = Number(process.argv[2] ?? 511);
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('error', () => {}));
server.listen({ host: '127.0.0.1', port: 0, backlog }, () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', listen: { port: typeof addr === 'object' && addr ? addr.port : 0 } })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
