import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForPort } from './redis-server.js';
import { spawnGroup, type GroupProcess } from './spawn-group.js';

/**
 * The HAProxy configuration docs/operations.md shows, with the ports filled in: WebSocket
 * upgrade passes through in `mode http`, `timeout tunnel` governs the connection once upgraded,
 * `/healthz` checks (on each gateway's `healthPort` when given, answered by its own thread) with
 * a check timeout, three failures before down, two successes and a slow start before up, and no
 * `shutdown-sessions`: a flap never cuts a node's clients. `option redispatch` + `retries` send
 * a reconnect that hits a dead node elsewhere.
 */
export function haproxyConfig(listenPort: number, backends: number[], maxconn = 9000, healthPorts: number[] = []): string {
  // every proxied connection holds two fds (client side + server side): maxconn ≈ (fd limit − margin) / 2
  return `global
    maxconn ${maxconn}

defaults
    mode http
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout tunnel 1h
    timeout client-fin 5s

frontend floodgate
    bind 127.0.0.1:${listenPort}
    maxconn ${maxconn}
    default_backend gateways

backend gateways
    balance leastconn
    option httpchk GET /healthz
    http-check expect status 200
    timeout check 3s
    default-server inter 2s fastinter 1s downinter 2s fall 3 rise 2 slowstart 10s
${backends.map((p, i) => `    server g${i + 1} 127.0.0.1:${p} check${healthPorts[i] ? ` port ${healthPorts[i]}` : ''}`).join('\n')}
`;
}

export function haproxyAvailable(): boolean {
  return spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** A real haproxy in the foreground (-db), in its own process group. */
export class Haproxy {
  private child: GroupProcess | undefined;
  private dir: string | undefined;
  constructor(readonly port: number, readonly backends: number[], readonly healthPorts: number[] = []) {}

  /** "Server gateways/gN is DOWN" lines so far, per server name. */
  downEvents(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.output.matchAll(/Server gateways\/(\S+) is DOWN/g)) out[m[1]] = (out[m[1]] ?? 0) + 1;
    return out;
  }

  /** The "is DOWN" lines themselves (HAProxy says why: check timeout, status code, connect error). */
  downLines(): string[] {
    return [...this.output.matchAll(/^.*Server gateways\/\S+ is DOWN.*$/gm)].map((m) => m[0]);
  }

  get output(): string {
    return this.child ? this.child.stdout + this.child.stderr : '';
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'fg-haproxy-'));
    const cfg = join(this.dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(this.port, this.backends, 9000, this.healthPorts));
    this.child = spawnGroup('haproxy', ['-db', '-f', cfg], { name: 'haproxy' });
    await waitForPort(this.port, 60_000, this.child);
  }

  async stop(): Promise<void> {
    await this.child?.killNow();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
