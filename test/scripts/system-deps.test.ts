// The setup step of `npm test` and `.ci/run` (scripts/system-deps.mjs), tested without touching
// the machine: a PATH without the binaries, a recorded install instead of apt-get, and the real
// CLI run as an unprivileged user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain .mjs script without types
import { ensureSystemDeps, findBinary, installCommand, missingDeps, SYSTEM_DEPS } from '../../scripts/system-deps.mjs';
import { spawnGroup } from '../helpers/spawn-group.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
type Dep = { bin: string; pkg: string };
const ALL_PACKAGES = 'redis-server chromium haproxy nginx-light iproute2 util-linux procps python3-minimal';

function emptyBin(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fg-deps-'));
  chmodSync(dir, 0o755);
  symlinkSync(process.execPath, join(dir, 'node'));
  return dir;
}

test('the one list: every binary the suite runs, with its Debian package', () => {
  assert.deepEqual((SYSTEM_DEPS as Dep[]).map((d) => d.bin), ['redis-server', 'chromium', 'haproxy', 'nginx', 'ip', 'ss', 'tc', 'prlimit', 'nsenter', 'setpriv', 'sysctl', 'python3']);
  assert.equal([...new Set((SYSTEM_DEPS as Dep[]).map((d) => d.pkg))].join(' '), ALL_PACKAGES);
  assert.equal(installCommand(['a', 'b']), 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends a b');
});

test('dry run with a PATH lacking every binary: names each and prints the install command, installs nothing', () => {
  const dir = emptyBin();
  try {
    assert.equal(missingDeps(dir, []).length, SYSTEM_DEPS.length);
    const lines: string[] = [];
    let ran = 0;
    const ok = ensureSystemDeps({ path: dir, extraDirs: [], dryRun: true, isRoot: true, log: (l: string) => lines.push(l), run: () => ++ran > 0 });
    assert.equal(ok, false);
    assert.equal(ran, 0);
    assert.match(lines[0], /^system packages the tests need are missing: redis-server \(redis-server\), chromium \(chromium\), haproxy \(haproxy\), nginx \(nginx-light\), ip \(iproute2\)/);
    assert.equal(lines[1], `dry run, would run: ${installCommand(ALL_PACKAGES.split(' '))}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('as root: runs the install once for the missing packages only, then checks again', () => {
  const dir = emptyBin();
  try {
    // present already: everything but redis-server and haproxy
    const stub = (bin: string) => {
      writeFileSync(join(dir, bin), '#!/bin/sh\n');
      chmodSync(join(dir, bin), 0o755);
    };
    for (const d of SYSTEM_DEPS as Dep[]) if (!['redis-server', 'haproxy'].includes(d.bin)) stub(d.bin);
    stub('apt-get');
    const commands: string[] = [];
    const ok = ensureSystemDeps({
      path: dir, extraDirs: [], isRoot: true, log: () => {},
      run: (cmd: string) => {
        commands.push(cmd);
        stub('redis-server');
        stub('haproxy');
        return true;
      },
    });
    assert.equal(ok, true);
    assert.deepEqual(commands, [installCommand(['redis-server', 'haproxy'])]);
    // nothing missing: no install at all
    assert.equal(ensureSystemDeps({ path: dir, extraDirs: [], isRoot: true, log: () => {}, run: () => assert.fail('must not install') }), true);
    // an install that does not provide the binary fails the setup
    rmSync(join(dir, 'haproxy'));
    const lines: string[] = [];
    assert.equal(ensureSystemDeps({ path: dir, extraDirs: [], isRoot: true, log: (l: string) => lines.push(l), run: () => true }), false);
    assert.equal(lines.at(-1), 'still missing after the install: haproxy');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm test as a non-root user on a machine without the packages stops at once with the one command', async () => {
  const dir = emptyBin();
  try {
    // the runner itself, as `nobody`, with a PATH that has node and nothing else
    const p = spawnGroup(findBinary('setpriv'), ['--reuid=65534', '--regid=65534', '--clear-groups', join(dir, 'node'), join(root, 'scripts/run-tests.mjs'), 'no-such-test'], {
      cwd: root,
      env: { PATH: dir, HOME: dir },
      name: 'run-tests as nobody',
    });
    const exit = await p.exited;
    assert.equal(exit.code, 1, p.tail());
    // (haproxy, nginx, ip, tc, sysctl are still found in /usr/sbin, which is searched too)
    assert.match(p.stdout, /^system packages the tests need are missing: redis-server \(redis-server\), chromium \(chromium\), /m);
    assert.match(p.stdout, /not root, so nothing was installed\. Run this once, then npm test again:\n {2}sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server chromium [a-z0-9 -]+'$/m);
    assert.doesNotMatch(p.stdout + p.stderr, /build|TAP version/, 'stopped before building or running anything');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
