import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkLimits } from '../../src/doctor/check-limits.js';
import { snapshotFromLinux, snapshotFromMac } from '../../src/doctor/os-snapshot.js';
import { parseLinuxSysctls } from '../../src/system/sysctl-set.js';
import { macSysctlsFromValues, MAC_SYSCTL_NAMES, parseMacSysctlValues } from '../../src/system/macos-sysctl.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const raw = JSON.parse(fixture('linux-sysctl-defaults.json')) as Record<string, string>;
const linux = snapshotFromLinux(parseLinuxSysctls((n) => raw[n]), { pid: 'self', soft: 20_000, hard: 20_000 }, { bytes: 512 * 1024 ** 2, source: 'cgroup-v2' });
const mac = snapshotFromMac(
  macSysctlsFromValues(parseMacSysctlValues(Object.values(MAC_SYSCTL_NAMES), fixture('macos/sysctl-n-defaults.txt'))),
  { pid: 'self', soft: 256, hard: 61_440 },
  { bytes: 16 * 1024 ** 3, source: 'physical' },
);
const opts = { bytesPerConnection: 180 * 1024, memoryOverhead: 128 * 1024 ** 2, reservedFds: 64, sourceIps: 1 };
const byId = (findings: { id: string }[], id: string) => findings.find((f) => f.id === id)!;

test('Linux defaults: ≈470 new connections/s to one destination, serve\'s backlog max = somaxconn 4,096, 2,184 by memory', () => {
  const r = checkLimits(linux, {}, opts);
  assert.equal(r.implications.usablePorts, 28_232);
  assert.equal(r.implications.maxNewConnectionsPerSecond, 470);
  assert.deepEqual(r.implications.backlog, { requested: 4096, effective: 4096, somaxconn: 4096 });
  assert.match(byId(r.findings, 'backlog.effective').title, /^floodgate serve listens with backlog `max` = net.core.somaxconn = 4,096/);
  assert.equal(r.implications.perProcess.connections, 2184);
  assert.equal(r.targetsMet, true);
  assert.match(byId(r.findings, 'ports.fin-timeout').title, /does not shorten TIME_WAIT/);
});

test('macOS defaults: ≈546 new connections/s (16,384 ports / 30 s), serve\'s backlog max = somaxconn 128', () => {
  const r = checkLimits(mac, {}, opts);
  assert.equal(r.implications.usablePorts, 16_384);
  assert.equal(r.implications.maxNewConnectionsPerSecond, 546);
  assert.equal(r.implications.backlog.effective, 128);
  assert.equal(byId(r.findings, 'backlog.effective').severity, 'warn');
});

test('targets that cannot be met are errors with a fix', () => {
  const r = checkLimits(linux, { connections: 50_000, ratePerSecond: 2000, backlog: 8192 }, opts);
  assert.equal(r.targetsMet, false);
  const rate = byId(r.findings, 'ports.rate');
  assert.equal(rate.severity, 'error');
  assert.match(rate.fix!, /≥ 5 source IPs/);
  assert.equal(byId(r.findings, 'backlog.effective').severity, 'error');
  assert.match(byId(r.findings, 'backlog.effective').fix!, /sysctl -w net.core.somaxconn=8192/);
  assert.equal(byId(r.findings, 'fds.per-process').severity, 'error');
  assert.equal(byId(r.findings, 'memory.connections').severity, 'error');
});

test('targets within the limits pass; more source IPs lift the rate', () => {
  const r = checkLimits(linux, { connections: 2000, ratePerSecond: 2000, backlog: 4096 }, { ...opts, sourceIps: 5 });
  assert.equal(r.targetsMet, true, JSON.stringify(r.findings.filter((f) => f.severity === 'error')));
});

test('SYN retry steps follow tcp_syn_linear_timeouts (Linux 6.x: 1 s steps first)', async () => {
  const { synRetrySteps } = await import('../../src/doctor/check-limits.js');
  assert.equal(synRetrySteps(4), '1 s, 2 s, 3 s, 4 s, 5 s, 7 s…');
  assert.equal(synRetrySteps(0), '1 s, 3 s, 7 s, 15 s, 31 s, 63 s…');
  assert.equal(synRetrySteps(undefined), synRetrySteps(0));
});
