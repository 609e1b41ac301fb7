import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForPort } from './redis-server.js';

/**
 * The nginx configuration docs/operations.md shows, with ports filled in. Open-source nginx has
 * no active health checks: a dead node is skipped after failed connects (`max_fails=3`, so one
 * slow connect on a busy box does not take a node out; `proxy_next_upstream` retries elsewhere),
 * and the upgrade needs the `Upgrade`/`Connection` headers passed on.
 */
export function nginxConfig(dir: string, listenPort: number, backends: number[]): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 9000; }
http {
    access_log off;
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;

    map $http_upgrade $connection_upgrade { default upgrade; '' close; }

    upstream gateways {
        least_conn;
${backends.map((p) => `        server 127.0.0.1:${p} max_fails=3 fail_timeout=10s;`).join('\n')}
    }

    server {
        listen 127.0.0.1:${listenPort} backlog=4096;
        location / {
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 3s;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
            proxy_next_upstream error timeout http_503;
            proxy_next_upstream_tries 3;
        }
    }
}
`;
}

export function nginxAvailable(): boolean {
  return spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** A real nginx in the foreground with its own prefix directory, stopped by PID. */
export class Nginx {
  private child: ChildProcess | undefined;
  private dir: string | undefined;
  output = '';
  constructor(readonly port: number, readonly backends: number[]) {}

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'fg-nginx-'));
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(this.dir, d));
    const cfg = join(this.dir, 'nginx.conf');
    writeFileSync(cfg, nginxConfig(this.dir, this.port, this.backends));
    this.child = spawn('nginx', ['-p', this.dir, '-c', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
    const exited = new Promise<never>((_, reject) =>
      this.child!.once('exit', (code) => reject(new Error(`nginx exited with ${code}: ${this.output.slice(-1500)}`))),
    );
    await Promise.race([waitForPort(this.port), exited]);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      // the master is our child; SIGTERM makes it stop its worker too
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
