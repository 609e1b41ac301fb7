import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEFAULT_TUNE_PATHS, parseStateFile, planLinuxTune, planMacTune, renderTuneScript, undoCommand } from '../../src/doctor/tune-script.js';
import { MAC_SYSCTL_NAMES } from '../../src/system/macos-sysctl.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const linux = JSON.parse(fixture('linux-sysctl-defaults.json')) as Record<string, string>;
const macValues = fixture('macos/sysctl-n-defaults.txt').trim().split('\n');
const mac = Object.fromEntries(Object.values(MAC_SYSCTL_NAMES).map((n, i) => [n, macValues[i]]));

test('Linux: only raises what the target needs; the port range only for a rate TIME_WAIT cannot carry', () => {
  assert.deepEqual(planLinuxTune((n) => linux[n], { backlog: 4096 }).map((c) => c.name), ['net.ipv4.tcp_max_syn_backlog', 'net.core.netdev_max_backlog']);
  const all = planLinuxTune((n) => linux[n], { backlog: 8192, ratePerSecond: 2000, connections: 2_000_000 });
  assert.deepEqual(all.map((c) => `${c.name}: ${c.from} -> ${c.to}`), [
    'net.core.somaxconn: 4096 -> 8192',
    'net.ipv4.tcp_max_syn_backlog: 2048 -> 8192',
    'net.core.netdev_max_backlog: 1000 -> 8192',
    'net.ipv4.ip_local_port_range: 32768 60999 -> 1024 65535',
    'net.ipv4.tcp_tw_reuse: 2 -> 1',
    'fs.file-max: 2466170 -> 4000000',
    'fs.nr_open: 1048576 -> 2001024',
  ]);
  assert.deepEqual(planLinuxTune((n) => linux[n], { backlog: 1024, ratePerSecond: 400 }).map((c) => c.name), ['net.core.netdev_max_backlog'], '400/s fits 28,232 ports / 60 s');
  // inside a network namespace netdev_max_backlog cannot be read (it is the host's): nothing to raise there
  assert.equal(planLinuxTune((n) => (n === 'net.core.netdev_max_backlog' ? undefined : linux[n]), { backlog: 1024, ratePerSecond: 400 }).length, 0);
});

test('macOS: somaxconn 128 → 4096; the script sets without persisting', () => {
  const changes = planMacTune((n) => mac[n], { ratePerSecond: 1000 });
  assert.deepEqual(changes.map((c) => [c.name, c.to]), [['kern.ipc.somaxconn', '4096'], ['net.inet.ip.portrange.first', '10000']]);
  const script = renderTuneScript(changes, 'darwin', { conf: '/x.conf', state: '/tmp/state.conf' });
  assert.match(script, /sysctl -w kern.ipc.somaxconn=4096/);
  assert.doesNotMatch(script, /CONF=/);
  assert.match(script, /grep -q '\^kern.ipc.somaxconn =' "\$STATE" \|\| echo "kern.ipc.somaxconn = \$\(sysctl -n kern.ipc.somaxconn\)"/);
});

test('the state file is sysctl.conf format', () => {
  assert.deepEqual([...parseStateFile('# c\nnet.core.somaxconn = 4096\nnet.ipv4.ip_local_port_range = 32768\t60999\n')],
    [['net.core.somaxconn', '4096'], ['net.ipv4.ip_local_port_range', '32768\t60999']]);
});

test('the undo command names custom --sysctl-conf/--state-file paths (quoted for sh), and only those', () => {
  assert.equal(undoCommand(DEFAULT_TUNE_PATHS), 'floodgate tune --revert');
  assert.equal(undoCommand({ ...DEFAULT_TUNE_PATHS, state: "/tmp/my state's" }), "floodgate tune --revert --state-file '/tmp/my state'\\''s'");
  assert.equal(undoCommand({ conf: '/tmp/a.conf', state: '/tmp/b.conf' }), 'floodgate tune --revert --sysctl-conf /tmp/a.conf --state-file /tmp/b.conf');
  assert.match(renderTuneScript([], 'linux', { conf: '/tmp/a.conf', state: '/tmp/b.conf' }), /undo with `floodgate tune --revert --sysctl-conf \/tmp\/a.conf --state-file \/tmp\/b.conf`/);
});
