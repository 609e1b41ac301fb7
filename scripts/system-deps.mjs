#!/usr/bin/env node
// The system packages the test suite uses, in one place: `npm test` (scripts/run-tests.mjs) and
// `.ci/run` both call this. On a machine that lacks some of them it installs them with apt-get
// when running as root, or stops at once with the one command to run.
//
// usage: node scripts/system-deps.mjs            check, install what is missing (root) or print the command
//        node scripts/system-deps.mjs --dry-run  check, print what would be installed, install nothing
//        node scripts/system-deps.mjs --list     print the Debian package names, one line
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Each binary the tests run, the Debian package that has it, and who needs it. */
export const SYSTEM_DEPS = [
  { bin: 'redis-server', pkg: 'redis-server', why: 'broker and scale-out tests start their own Redis' },
  { bin: 'chromium', pkg: 'chromium', why: 'SDK and dashboard tests in a real browser (/usr/bin/chromium)' },
  { bin: 'haproxy', pkg: 'haproxy', why: 'the documented load-balancer config is tested' },
  { bin: 'nginx', pkg: 'nginx-light', why: 'the documented load-balancer config is tested' },
  { bin: 'ip', pkg: 'iproute2', why: 'network namespaces for doctor/tune tests' },
  { bin: 'ss', pkg: 'iproute2', why: 'listener and socket-state readers' },
  { bin: 'tc', pkg: 'iproute2', why: 'traffic control inside test namespaces' },
  { bin: 'prlimit', pkg: 'util-linux', why: 'fd-limit diagnosis tests' },
  { bin: 'nsenter', pkg: 'util-linux', why: 'doctor --pid across network namespaces' },
  { bin: 'setpriv', pkg: 'util-linux', why: 'the not-root path of tune --apply' },
  { bin: 'sysctl', pkg: 'procps', why: 'tune scripts' },
  { bin: 'python3', pkg: 'python3-minimal', why: 'a listener that never accepts (fault server)' },
];

/** The sbin directories a non-root PATH often lacks (`ip`, `tc`, `sysctl` live there). */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Where a binary is found: PATH, then `extraDirs`. */
export function findBinary(bin, path = process.env.PATH ?? '', extraDirs = SBIN) {
  const dirs = [...path.split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function missingDeps(path = process.env.PATH ?? '', extraDirs = SBIN) {
  return SYSTEM_DEPS.filter((d) => findBinary(d.bin, path, extraDirs) === undefined);
}

export function installCommand(packages) {
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/**
 * Checks the system packages; installs what is missing when root (unless dryRun). Returns true
 * when the suite can run. `isRoot`, `path`, `extraDirs`, `run` are there for the setup test.
 */
export function ensureSystemDeps({
  log = console.log,
  dryRun = false,
  path = process.env.PATH ?? '',
  extraDirs = SBIN,
  isRoot = process.getuid?.() === 0,
  run = (cmd) => spawnSync('sh', ['-c', cmd], { stdio: 'inherit', timeout: 20 * 60_000 }).status === 0,
} = {}) {
  const missing = missingDeps(path, extraDirs);
  if (missing.length === 0) return true;
  const packages = [...new Set(missing.map((d) => d.pkg))];
  const cmd = installCommand(packages);
  log(`system packages the tests need are missing: ${missing.map((d) => `${d.bin} (${d.pkg})`).join(', ')}`);
  if (dryRun) {
    log(`dry run, would run: ${cmd}`);
    return false;
  }
  if (!isRoot) {
    log(`not root, so nothing was installed. Run this once, then npm test again:\n  sudo sh -c '${cmd}'`);
    return false;
  }
  if (findBinary('apt-get', path, extraDirs) === undefined) {
    log(`no apt-get on this machine; install these packages with your package manager: ${packages.join(' ')}`);
    return false;
  }
  log(`installing: ${cmd}`);
  if (!run(cmd)) {
    log('installing the system packages failed (see above)');
    return false;
  }
  const still = missingDeps(path, extraDirs);
  if (still.length > 0) {
    log(`still missing after the install: ${still.map((d) => d.bin).join(', ')}`);
    return false;
  }
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  if (args.includes('--list')) {
    console.log([...new Set(SYSTEM_DEPS.map((d) => d.pkg))].join(' '));
    process.exit(0);
  }
  const ok = ensureSystemDeps({ dryRun: args.includes('--dry-run') });
  if (ok) console.log('system packages: all present');
  process.exit(ok ? 0 : 1);
}
