// Separate "machines" on one box: network namespaces joined by veth pairs to a bridge that lives in
// the gateway's namespace. Every interface is created inside a namespace of this lab (never in the
// host's), no namespace has a default route, so nothing can reach or be reached from outside.
// Names carry a per-run tag, because other test runs create namespaces at the same time.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export interface LabHost {
  name: string;
  ns: string;
  ip: string;
}

export interface Lab {
  gateway: LabHost;
  hosts: LabHost[];
  /** Every namespace of the lab, for cleanup. */
  namespaces: string[];
}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Creates the gateway namespace (bridge, SUBNET.1/24) and `hosts` load hosts (SUBNET.11, .12, …). */
export function createLab(tag: string, hosts: number, subnet = '10.77.0'): Lab {
  const gw: LabHost = { name: 'gateway', ns: `fg-${tag}-gw`, ip: `${subnet}.1` };
  const lab: Lab = { gateway: gw, hosts: [], namespaces: [gw.ns] };
  try {
    ip('netns', 'add', gw.ns);
    ip('-n', gw.ns, 'link', 'set', 'lo', 'up');
    ip('-n', gw.ns, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', gw.ns, 'addr', 'add', `${gw.ip}/24`, 'dev', 'br0');
    ip('-n', gw.ns, 'link', 'set', 'br0', 'up');
    for (let k = 1; k <= hosts; k++) {
      const h: LabHost = { name: `host-${k}`, ns: `fg-${tag}-h${k}`, ip: `${subnet}.${10 + k}` };
      lab.namespaces.push(h.ns);
      lab.hosts.push(h);
      ip('netns', 'add', h.ns);
      ip('-n', h.ns, 'link', 'set', 'lo', 'up');
      // both ends are born inside the lab's namespaces: eth0 in the host, vh<k> in the gateway's
      ip('-n', h.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `vh${k}`, 'netns', gw.ns);
      ip('-n', gw.ns, 'link', 'set', `vh${k}`, 'master', 'br0');
      ip('-n', gw.ns, 'link', 'set', `vh${k}`, 'up');
      ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
      ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
    }
  } catch (err) {
    destroyLab(lab);
    throw err;
  }
  return lab;
}

export function destroyLab(lab: Lab): void {
  for (const ns of lab.namespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

/** Writes a per-namespace sysctl (e.g. net.ipv4.ip_local_port_range) inside one of the lab's namespaces. */
export function setSysctlIn(ns: string, key: string, value: string): void {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`]);
}

/** A process inside a namespace, in its own process group (killed as a group), with its output kept. */
export class NsProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;
  constructor(ns: string, cmd: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn('ip', ['netns', 'exec', ns, ...cmd], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.on('data', (c: Buffer) => (this.stdout += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stdout)) {
      if (!this.alive) throw new Error(`process exited early: ${this.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills the whole process group (workers included) and waits for the leader. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // group already gone
    }
    await this.exited;
  }
}

/** Waits until `redis-cli ping` answers inside the namespace. */
export async function waitForRedisIn(ns: string, host: string, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (execFileSync('ip', ['netns', 'exec', ns, 'redis-cli', '-h', host, '-p', String(port), 'ping'], { encoding: 'utf8', timeout: 5000 }).trim() === 'PONG') return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server in ${ns} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
