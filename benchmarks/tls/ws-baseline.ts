/** The baseline: a plain `ws` server, over https when given a certificate and key. Prints its port. */
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';

const [certPath, keyPath] = process.argv.slice(2);
const server = certPath ? createHttpsServer({ cert: readFileSync(certPath), key: readFileSync(keyPath) }) : createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('error', () => {}));
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', listen: { port: typeof addr === 'object' && addr ? addr.port : 0 } })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
