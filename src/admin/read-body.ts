import type { IncomingMessage } from 'node:http';
import { FloodgateError } from '../errors.js';

/**
 * Reads a request body of at most `limit` bytes. A larger declared Content-Length is refused
 * before reading; a body that grows past the limit stops being read at the limit, so a client
 * cannot make the gateway buffer more than `limit`.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(tooLarge(limit, `${declared} B`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        finish(tooLarge(limit, `more than ${limit} B`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish(undefined));
    req.once('error', (err) => finish(err));
    req.once('close', () => finish(new Error('the client closed the request before its body ended')));
  });
}

function tooLarge(limit: number, got: string): FloodgateError {
  return new FloodgateError('FG_ERR_API_BODY_TOO_LARGE', `request body of ${got} is larger than apiBodyLimit (${limit} B)`);
}
