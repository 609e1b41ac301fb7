import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { stopGroup, trackGroup } from '../helpers/spawn-group.js';

/** A TCP server that answers the upgrade correctly and then runs `after` on the socket. */
export async function rawWsServer(after: (s: Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((s) => {
    let buf = '';
    s.on('error', () => undefined);
    s.on('data', (d) => {
      if (buf === null) return;
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const key = /sec-websocket-key:\s*(\S+)/i.exec(buf)?.[1] ?? '';
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      buf = null as unknown as string;
      after(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, close: () => closeServer(server) };
}

/** A TCP server that resets every connection as soon as it is accepted. */
export async function resettingServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((s) => s.resetAndDestroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, close: () => closeServer(server) };
}

async function closeServer(server: Server): Promise<void> {
  server.close();
  (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
}

/**
 * A listening socket with backlog 1 that never calls accept(): the kernel completes a couple of
 * handshakes into the accept queue, then drops SYNs. Python, because Node always accepts.
 */
export async function neverAcceptingServer(): Promise<{ port: number; child: ChildProcess; close: () => void }> {
  const child = trackGroup(spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(1)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true }));
  const port = await new Promise<number>((res, rej) => {
    child.stdout!.once('data', (d: Buffer) => res(Number(d.toString().trim())));
    child.once('exit', () => rej(new Error('python listener exited')));
  });
  return { port, child, close: () => void stopGroup(child) };
}
