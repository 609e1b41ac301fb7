/**
 * A minimal raw-socket WebSocket client process for the server suites: it writes the Upgrade by
 * hand (cheaper than any client library, so the server is what gets measured), records the time
 * from connect() to the 101 line, holds the connections, and resets them on command.
 * Parent → child: {cmd:'open', port, count, sourceIps, spreadMs} | {cmd:'close'}. Child → parent: results.
 */
import { connect, type Socket } from 'node:net';

interface OpenCmd { cmd: 'open'; port: number; count: number; sourceIps: string[]; spreadMs: number }

const UPGRADE = (port: number): string =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

const sockets: Socket[] = [];

function open(cmd: OpenCmd): void {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let done = 0;
  const request = UPGRADE(cmd.port);
  const finish = (): void => {
    if (++done === cmd.count) process.send!({ type: 'opened', latencies, failures });
  };
  const one = (i: number): void => {
    const started = performance.now();
    const s = connect({ port: cmd.port, host: '127.0.0.1', localAddress: cmd.sourceIps[i % cmd.sourceIps.length] });
    let settled = false;
    s.setNoDelay(true);
    s.once('connect', () => s.write(request));
    s.once('data', (chunk: Buffer) => {
      if (settled) return;
      settled = true;
      const status = chunk.toString('latin1', 0, 12);
      if (status === 'HTTP/1.1 101') {
        latencies.push(performance.now() - started);
        sockets.push(s);
        s.on('data', () => {}); // discard frames (welcome)
      } else {
        failures[`status ${status.slice(9, 12)}`] = (failures[`status ${status.slice(9, 12)}`] ?? 0) + 1;
        s.destroy();
      }
      finish();
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      failures[err.code ?? err.message] = (failures[err.code ?? err.message] ?? 0) + 1;
      finish();
    });
  };
  if (cmd.spreadMs <= 0) {
    for (let i = 0; i < cmd.count; i++) one(i);
  } else {
    let i = 0;
    const perTick = Math.max(1, Math.ceil(cmd.count / (cmd.spreadMs / 10)));
    const t = setInterval(() => {
      for (let k = 0; k < perTick && i < cmd.count; k++) one(i++);
      if (i >= cmd.count) clearInterval(t);
    }, 10);
  }
}

process.on('message', (msg: OpenCmd | { cmd: 'close' }) => {
  if (msg.cmd === 'open') open(msg);
  else {
    for (const s of sockets) s.resetAndDestroy();
    sockets.length = 0;
    process.send!({ type: 'closed' });
    setTimeout(() => process.exit(0), 50);
  }
});
