import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Socket } from 'node:net';
import { FloodgateError } from '../errors.js';

/** How often the certificate files' mtimes are checked (a poll survives atomic renames, e.g. certbot). */
const POLL_MS = 2000;

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Anything with setSecureContext: the public https server and the admin one. */
interface SecureServer {
  setSecureContext(options: SecureContextOptions): void;
}

/**
 * The certificate and key of `--tls-cert`/`--tls-key`, read and checked at startup, and
 * reloaded on SIGHUP or when either file changes. A reload calls `setSecureContext()` on every
 * server using them: new handshakes get the new certificate, open connections are untouched.
 * A pair that does not load (half-written, key and cert not matching) is refused with a
 * warning and the previous one stays in use.
 */
export class TlsFiles {
  private current: { cert: Buffer; key: Buffer };
  private readonly servers: SecureServer[] = [];
  private watching = false;
  reloads = 0;

  static fromSettings(s: { tlsCert: string; tlsKey: string }, log?: Logger): TlsFiles | undefined {
    if (s.tlsCert === '' && s.tlsKey === '') return undefined;
    if (s.tlsCert === '' || s.tlsKey === '') {
      const missing = s.tlsCert === '' ? 'tlsCert' : 'tlsKey';
      throw new FloodgateError('FG_ERR_INVALID_CONFIG', `Invalid value for \`${missing}\` (--${missing === 'tlsCert' ? 'tls-cert' : 'tls-key'}): TLS needs both tlsCert and tlsKey (PEM files), got only one`);
    }
    return new TlsFiles(s.tlsCert, s.tlsKey, log);
  }

  private constructor(readonly certPath: string, readonly keyPath: string, private readonly log?: Logger) {
    const loaded = this.load();
    if (typeof loaded === 'string') throw new FloodgateError('FG_ERR_INVALID_CONFIG', loaded);
    this.current = loaded;
  }

  /** The options for https.createServer. */
  get options(): { cert: Buffer; key: Buffer } {
    return this.current;
  }

  private load(): { cert: Buffer; key: Buffer } | string {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(this.certPath);
    } catch (err) {
      return `Invalid value for \`tlsCert\`: cannot read ${this.certPath}: ${(err as Error).message}`;
    }
    try {
      key = readFileSync(this.keyPath);
    } catch (err) {
      return `Invalid value for \`tlsKey\`: cannot read ${this.keyPath}: ${(err as Error).message}`;
    }
    try {
      createSecureContext({ cert, key }); // parses both and checks that the key matches the certificate
    } catch (err) {
      return `Invalid value for \`tlsCert\`/\`tlsKey\`: ${this.certPath} and ${this.keyPath} are not a matching PEM certificate and key: ${(err as Error).message}`;
    }
    return { cert, key };
  }

  /** Serve with these files, and keep serving the newest usable pair. */
  attach(server: SecureServer): void {
    this.servers.push(server);
    if (!this.watching) {
      this.watching = true;
      const onChange = (cur: { mtimeMs: number; size: number }, prev: { mtimeMs: number; size: number }): void => {
        if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) this.reload('file change');
      };
      watchFile(this.certPath, { interval: POLL_MS, persistent: false }, onChange);
      watchFile(this.keyPath, { interval: POLL_MS, persistent: false }, onChange);
    }
  }

  /** Rereads both files; true when the new pair is in use. */
  reload(why: string): boolean {
    const loaded = this.load();
    if (typeof loaded === 'string') {
      this.log?.warn({ why, err: loaded }, 'TLS certificate not reloaded; the previous one stays in use');
      return false;
    }
    if (loaded.cert.equals(this.current.cert) && loaded.key.equals(this.current.key)) return true;
    this.current = loaded;
    for (const s of this.servers) s.setSecureContext(loaded);
    this.reloads++;
    this.log?.info({ why, cert: this.certPath }, 'TLS certificate reloaded');
    return true;
  }

  close(): void {
    if (!this.watching) return;
    unwatchFile(this.certPath);
    unwatchFile(this.keyPath);
    this.watching = false;
  }
}

/** The TCP socket under a request's socket: the TLSSocket's parent with TLS, else the socket itself. */
export function rawSocket(socket: object): Socket {
  return ((socket as { _parent?: Socket })._parent ?? socket) as Socket;
}
