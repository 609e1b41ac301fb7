import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../errors.js';

/**
 * Answers an upgrade request with a plain HTTP status instead of 101, then closes. A clean
 * 503 with Retry-After is what a flood past the cap should see: never a reset or a timeout.
 */
/**
 * The same answer for a socket whose request is not read, closed as soon as the answer is
 * written: used when the process is short of file descriptors, where a refused socket must not
 * hold its fd until the client closes.
 */
export function rejectAndRelease(socket: Duplex, status: number, code: ErrorCode, message: string, retryAfter?: number): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ code, message });
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`, 'Connection: close', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`];
  if (retryAfter !== undefined) head.push(`Retry-After: ${retryAfter}`);
  socket.write(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), 2000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

export function rejectUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string, retryAfter?: number, headers?: Record<string, string>): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ code, message });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  if (retryAfter !== undefined) head.push(`Retry-After: ${retryAfter}`);
  for (const [k, v] of Object.entries(headers ?? {})) head.push(`${k}: ${v}`);
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  // a client that never closes its side must not hold the fd
  const timer = setTimeout(() => socket.destroy(), 2000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
