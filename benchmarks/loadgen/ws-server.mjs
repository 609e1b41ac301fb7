// The target: a plain `ws` server in its own process (backlog 4096), so it does not share CPU accounting with the clients.
import { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096, perMessageDeflate: false });
wss.on('listening', () => process.send({ port: wss.address().port }));
process.on('disconnect', () => process.exit(0));
