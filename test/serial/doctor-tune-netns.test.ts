// `floodgate tune` for real, inside a network namespace this test creates: net.core.somaxconn,
// tcp_max_syn_backlog, ip_local_port_range and tcp_tw_reuse are per namespace, so apply/verify/
// revert/verify runs against real kernel settings while the host's values stay untouched.
// The persistent file and the state file go to a temp dir, never /etc.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, deleteNetns, inNetns, netnsAvailable, readSysctlIn } from '../doctor/helpers/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = [process.execPath, '--import', 'tsx', `${root}src/cli/main.ts`];
const ns = `fgtest-tune-${process.pid}`;
const skip = netnsAvailable() ? false : 'needs root and ip netns';
const KEYS = ['net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_tw_reuse'];
let dir = '';

const hostValues = (): string[] => KEYS.map((k) => readFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, 'utf8').trim().replace(/\s+/g, ' '));
const nsValues = (): string[] => KEYS.map((k) => readSysctlIn(ns, k));

before(() => {
  if (skip) return;
  createNetns(ns);
  dir = mkdtempSync(join(tmpdir(), 'fg-tune-'));
});
after(() => {
  if (skip) return;
  deleteNetns(ns);
  rmSync(dir, { recursive: true, force: true });
});

test('print, apply, re-apply, revert inside a netns; the host never changes', { skip }, () => {
  const host = hostValues();
  const original = nsValues();
  const conf = join(dir, '99-floodgate.conf');
  const state = join(dir, 'state', 'sysctl-before.conf');
  const paths = ['--sysctl-conf', conf, '--state-file', state];

  // without --apply nothing changes
  const script = inNetns(ns, [...cli, 'tune', '--backlog', '8192', '--target-rate', '2000/s', ...paths]);
  assert.match(script, /sysctl -w "?net.core.somaxconn=8192"?/);
  assert.match(script, /sysctl -w "net.ipv4.ip_local_port_range=1024 65535"/);
  assert.match(script, /takes effect only when the server listens again/);
  assert.deepEqual(nsValues(), original);
  assert.equal(existsSync(conf), false);

  const applied = inNetns(ns, [...cli, 'tune', '--backlog', '8192', '--target-rate', '2000/s', '--apply', ...paths]);
  // the undo it prints finds the custom files again
  assert.ok(applied.includes(`Undo: floodgate tune --revert --sysctl-conf ${conf} --state-file ${state}\n`), applied);
  assert.deepEqual(nsValues(), ['8192', '8192', '1024 65535', '1']);
  assert.match(readFileSync(conf, 'utf8'), /^net.core.somaxconn = 8192$/m);
  assert.match(readFileSync(state, 'utf8'), new RegExp(`^net.core.somaxconn = ${original[0]}$`, 'm'));
  assert.deepEqual(hostValues(), host);

  // a second apply raises further but keeps the values from before the first one
  inNetns(ns, [...cli, 'tune', '--backlog', '16384', '--apply', ...paths]);
  assert.equal(readSysctlIn(ns, 'net.core.somaxconn'), '16384');
  assert.match(readFileSync(state, 'utf8'), new RegExp(`^net.core.somaxconn = ${original[0]}$`, 'm'));

  const out = inNetns(ns, [...cli, 'tune', '--revert', ...paths]);
  assert.match(out, /Restored/);
  assert.deepEqual(nsValues(), original);
  assert.equal(existsSync(conf), false);
  assert.equal(existsSync(state), false);
  assert.deepEqual(hostValues(), host);
});

test('the printed script itself applies, and `tune --revert` undoes it', { skip }, () => {
  const host = hostValues();
  const original = nsValues();
  const conf = join(dir, 'script.conf');
  const state = join(dir, 'script-state.conf');
  const paths = ['--sysctl-conf', conf, '--state-file', state];
  const file = join(dir, 'tune.sh');
  writeFileSync(file, inNetns(ns, [...cli, 'tune', '--backlog', '10000', '--target-rate', '1000/s', ...paths]));
  inNetns(ns, ['sh', file]);
  assert.deepEqual(nsValues(), ['10000', '10000', '1024 65535', '1']);
  assert.match(readFileSync(conf, 'utf8'), /net.ipv4.tcp_tw_reuse = 1/);
  inNetns(ns, [...cli, 'tune', '--revert', ...paths]);
  assert.deepEqual(nsValues(), original);
  assert.deepEqual(hostValues(), host);
});

test('--apply without root fails with FG_ERR_NOT_ROOT and changes nothing', { skip }, () => {
  const original = nsValues();
  const r = spawnSync('ip', ['netns', 'exec', ns, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
    ...cli, 'tune', '--backlog', '9000', '--apply', '--state-file', join(dir, 'nobody.conf'), '--sysctl-conf', join(dir, 'nobody-99.conf')], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /FG_ERR_NOT_ROOT/);
  assert.deepEqual(nsValues(), original);
});

test('--revert with nothing recorded fails with FG_ERR_TUNE', { skip }, () => {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cli, 'tune', '--revert', '--state-file', join(dir, 'missing.conf'), '--sysctl-conf', join(dir, 'x.conf')], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /FG_ERR_TUNE: Nothing to revert/);
});
