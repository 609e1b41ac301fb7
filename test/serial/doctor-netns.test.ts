// `doctor --pid` / `--port` against a server in another network namespace: every per-namespace reading
// (somaxconn, the port range, the listener, the counters) must be that namespace's, host-wide ones
// labelled as such, and a backlog cut to somaxconn flagged. Namespace names are unique per run.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Netns, stop } from '../doctor/helpers/ground-truth.js';
import { netnsAvailable } from '../doctor/helpers/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const skip = netnsAvailable() ? false : 'needs root and ip netns';
const spaces: Netns[] = [];
after(async () => {
  for (const ns of spaces) await ns.close();
});

const doctor = (args: string[], prefix: string[] = []): { status: number; stdout: string } => {
  try {
    return { status: 0, stdout: execFileSync(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length > 0 ? [process.execPath] : []), `${root}dist/cli/main.js`, 'doctor', ...args], { encoding: 'utf8', timeout: 30_000 }) };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { status: e.status, stdout: e.stdout };
  }
};

test('doctor --pid reads somaxconn, the port range and the listener in the target\'s namespace, labels host-wide settings, flags the capped backlog', { skip }, async () => {
  const ns = new Netns();
  spaces.push(ns);
  ns.sysctl('net.core.somaxconn=64', 'net.ipv4.ip_local_port_range=20000 20999');
  const srv = await ns.faultServer({ backlog: 1000, mode: '101' });
  try {
    const hostSomaxconn = Number(execFileSync('cat', ['/proc/sys/net/core/somaxconn'], { encoding: 'utf8' }));
    assert.notEqual(hostSomaxconn, 64, 'the host differs from the namespace, or this test proves nothing');
    const r = doctor(['--pid', String(srv.pid)]);
    assert.match(r.stdout, new RegExp(`^Limits \\(linux; per-namespace settings from the network namespace of pid ${srv.pid}, read through nsenter\\)`));
    assert.match(r.stdout, new RegExp(`net\\.core\\.somaxconn\\s+64 \\(network namespace of pid ${srv.pid}\\)`));
    assert.match(r.stdout, new RegExp(`net\\.ipv4\\.ip_local_port_range\\s+20000 20999 \\(network namespace of pid ${srv.pid}\\)`));
    assert.match(r.stdout, /fs\.file-max\s+\d+ \(host-wide\)/);
    // without --backlog, doctor describes what `floodgate serve` asks for by default: max = somaxconn
    assert.match(r.stdout, /effective backlog\s+64 \(requested 64, somaxconn 64\)/);
    assert.match(r.stdout, new RegExp(`127\\.0\\.0\\.1:${srv.port} listens with an effective backlog of 64`));
    assert.match(r.stdout, new RegExp(`WARN  127\\.0\\.0\\.1:${srv.port}'s backlog equals net\\.core\\.somaxconn \\(64\\): it was probably capped — the server asked for this much or more, and the requested value cannot be read back`));
    // inside the namespace, --port: host-wide settings the namespace cannot see are said to be host-wide
    const inside = doctor(['--port', String(srv.port)], ['ip', 'netns', 'exec', ns.name]);
    assert.match(inside.stdout, /net\.ipv4\.tcp_mem\s+host-wide, not visible here/);
    assert.match(inside.stdout, /backlog equals net\.core\.somaxconn \(64\)/);
    // watch --pid counts the namespace's sockets only
    const { WatchSampler } = await import('../../src/doctor/watch-sampler.js');
    const t = new WatchSampler({ pid: srv.pid, port: srv.port, warnAt: 0.7, alarmAt: 0.9 }).tick();
    assert.deepEqual(t.states, { LISTEN: 1 });
  } finally {
    await stop(srv.child);
  }
});
