import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForPort } from './redis-server.js';
import { spawnGroup, type GroupProcess } from './spawn-group.js';

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

/** A real nginx in the foreground with its own prefix directory, in its own process group. */
export class Nginx {
  private child: GroupProcess | undefined;
  private dir: string | undefined;
  constructor(readonly port: number, readonly backends: number[]) {}

  get output(): string {
    return this.child ? this.child.stdout + this.child.stderr : '';
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'fg-nginx-'));
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(this.dir, d));
    const cfg = join(this.dir, 'nginx.conf');
    writeFileSync(cfg, nginxConfig(this.dir, this.port, this.backends));
    this.child = spawnGroup('nginx', ['-p', this.dir, '-c', cfg], { name: 'nginx' });
    await waitForPort(this.port, 60_000, this.child);
  }

  async stop(): Promise<void> {
    // the master is our child; SIGTERM makes it stop its worker too, and the group kill after it catches the rest
    await this.child?.stop('SIGTERM', 10_000);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
