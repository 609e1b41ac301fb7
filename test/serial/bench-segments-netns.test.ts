// Three load "machines" and one gateway machine, as network namespaces on a private bridge: three
// segments of one scenario start together at a Redis barrier, each stores its result, the last one
// writes the merged run; the merged totals are the whole scenario's, and a fault planted on one
// host (a 20-port ip_local_port_range in its namespace) is diagnosed on that host and only there.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../src/loadgen/types.js';
import { netnsAvailable } from '../doctor/helpers/netns.js';
import { createLab, destroyLab, NsProcess, setSysctlIn, waitForRedisIn, type Lab } from '../helpers/netns-lab.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const node = [process.execPath, '--import', 'tsx', join(root, 'src/cli/main.ts')];
const skip = netnsAvailable() ? false : 'needs root and ip netns';
const tag = `b17-${process.pid}`;
const REDIS_PORT = 6390;
const GW_PORT = 8080;
// 240 connections at 400/s, held 1 s: 80 per host
const SCENARIO = ['-c', '240', '--rate', '400/s', '-d', '1s'];

let lab: Lab | undefined;
let dir = '';
const procs: NsProcess[] = [];

before(() => {
  if (skip) return;
  lab = createLab(tag, 3);
  dir = mkdtempSync(join(tmpdir(), 'fg-seg-'));
});
after(async () => {
  for (const p of procs) await p.kill();
  if (lab) destroyLab(lab);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('3 segments from 3 namespace hosts, Redis barrier, serve --workers 2: merged totals are the scenario, and the faulty host is named', { skip, timeout: 180_000 }, async () => {
  const { gateway, hosts } = lab!;
  const redis = new NsProcess(gateway.ns, ['redis-server', '--bind', gateway.ip, '--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
    // reachable only inside this lab's namespaces; protected mode would refuse the other hosts
    '--protected-mode', 'no']);
  procs.push(redis);
  await waitForRedisIn(gateway.ns, gateway.ip, REDIS_PORT);
  const serve = new NsProcess(gateway.ns, [...node, 'serve', '--host', gateway.ip, '--port', String(GW_PORT), '--workers', '2', '--log-format', 'json'], { cwd: root });
  procs.push(serve);
  await serve.waitFor(/"workers":\{/, 60_000);

  // the fault: host-2 has 20 ephemeral ports
  setSysctlIn(hosts[1].ns, 'net.ipv4.ip_local_port_range', '40000 40019');

  const sync = `redis://${gateway.ip}:${REDIS_PORT}/run-${tag}`;
  const merged = join(dir, 'merged.json');
  const report = join(dir, 'merged.html');
  const segs = hosts.map((h, k) => {
    const p = new NsProcess(h.ns, [...node, 'bench', `ws://${gateway.ip}:${GW_PORT}/`, ...SCENARIO,
      '--segment', `${k + 1}/3`, '--sync', sync, '--sync-timeout', '90s', '--label', h.name,
      // one address list, split without overlap: segment i takes the i-th address, its host's own
      '--source-ips', `${hosts[0].ip}-${hosts[2].ip}`,
      '-w', '1', '--force', '--out', join(dir, `seg${k + 1}.json`), '--merged-out', merged, '--merged-report', report], { cwd: root });
    procs.push(p);
    return p;
  });
  const codes = await Promise.all(segs.map((p) => p.exited));
  // host-2's connections failed: that segment exits 1 (bench's exit rule), the others 0
  assert.deepEqual(codes, [0, 1, 0], segs.map((p) => p.stderr).join('\n---\n'));
  for (const p of segs) assert.match(p.stderr, /all segments ready after .* clock skew vs Redis [+-][\d.]+ ms/);
  // exactly one segment stored the last result and wrote the merged files
  assert.equal(segs.filter((p) => /merged 3 segments into/.test(p.stderr)).length, 1);

  const parts = hosts.map((_, k) => JSON.parse(readFileSync(join(dir, `seg${k + 1}.json`), 'utf8')) as BenchResult);
  assert.deepEqual(parts.map((r) => r.plan.sourceIps), hosts.map((h) => [h.ip]));
  assert.deepEqual(parts.map((r) => r.totals.attempts), [80, 80, 80]);
  // one start instant on Redis's clock
  const starts = parts.map((r) => Date.parse(r.clock!.startAt) + r.clock!.skewMs!);
  assert.ok(Math.max(...starts) - Math.min(...starts) <= 2, `starts ${starts}`);

  const m = JSON.parse(readFileSync(merged, 'utf8')) as BenchResult;
  // the whole scenario: one stage of 240 at 400/s held 1 s
  assert.deepEqual(m.stages, [{ connections: 240, rate: 400, durationMs: 1000 }]);
  assert.equal(m.totals.attempts, 240);
  assert.equal(m.plan.connections, 240);
  assert.equal(m.totals.successes + m.totals.failures, 240);
  assert.equal(m.latencyMs.handshake.count, m.totals.opened);
  assert.deepEqual(m.parts!.map((p) => p.label), ['host-1', 'host-2', 'host-3']);
  // hosts 1 and 3 held everything; host 2 ran out of its 20 ports
  assert.deepEqual([parts[0].totals.successes, parts[2].totals.successes], [80, 80]);
  assert.ok(parts[1].totals.successes <= 20, `host-2 held ${parts[1].totals.successes}`);
  assert.equal(parts[1].totals.failures, 80 - parts[1].totals.successes);
  assert.ok(parts[1].failures.every((f) => /^connect\.EADDR(INUSE|NOTAVAIL)$/.test(f.kind) && f.side === 'generator'), JSON.stringify(parts[1].failures));
  // each machine's own kernel settings are kept, labelled
  assert.deepEqual(m.parts![1].evidence.generator.portRange, [40000, 40019]);
  assert.notDeepEqual(m.parts![0].evidence.generator.portRange, [40000, 40019]);
  // the diagnosis names host-2, and only host-2, for the ports
  const ports = m.diagnosis!.causes.find((c) => c.id === 'client-ports');
  assert.ok(ports, JSON.stringify(m.diagnosis));
  assert.deepEqual(ports.machines, ['host-2']);
  assert.match(ports.verdict, /^host-2: \d+ attempts failed with EADDRNOTAVAIL\/EADDRINUSE/);
  assert.match(m.diagnosis!.headline, /failed on 1 of 3 machines \(host-2 \d+\)/);
  assert.ok(m.diagnosis!.causes.every((c) => !c.machines?.includes('host-1') && !c.machines?.includes('host-3')), JSON.stringify(m.diagnosis));
  assert.match(readFileSync(report, 'utf8'), /<td><b>host-2<\/b>/);

  // the same files merged by hand give the same totals
  const again = new NsProcess(hosts[0].ns, [...node, 'bench', 'merge', ...[1, 2, 3].map((k) => join(dir, `seg${k}.json`)), '--json'], { cwd: root });
  procs.push(again);
  assert.equal(await again.exited, 1, again.stderr); // the merged run has failures
  const m2 = JSON.parse(again.stdout) as BenchResult;
  assert.deepEqual(m2.totals, m.totals);

  // doctor --run on the merged run diagnoses each machine from its own counters, under its label
  const doctor = new NsProcess(hosts[0].ns, [...node, 'doctor', '--run', merged], { cwd: root });
  procs.push(doctor);
  assert.equal(await doctor.exited, 1, doctor.stderr); // it names a cause
  assert.match(doctor.stdout, /handshakes failed across 3 machines \(each diagnosed from its own counters\)/);
  const section = (label: string): string => doctor.stdout.split(`== ${label} ==`)[1]?.split('\n== ')[0] ?? '';
  assert.match(section('host-2'), /EADDRNOTAVAIL\/EADDRINUSE: the generator's ephemeral ports/);
  assert.match(section('host-2'), /ip_local_port_range 40000–40019: 20 ports/);
  assert.match(section('host-1'), /^\nAll 80 handshakes succeeded\./);
});
