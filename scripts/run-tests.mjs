#!/usr/bin/env node
// Runs the test suite: checks the system packages the tests use (scripts/system-deps.mjs), builds
// dist/ (CLI tests spawn it), then runs test/**/*.test.ts two files at a time and
// test/serial/**/*.test.ts one at a time (they flood ports or the listen queue), and prints one
// closing line "N passed, N failed, N skipped".
//
// It never hangs. Each test file runs in its own process group under three ceilings:
//   - a test that makes no progress (no test starts or ends) for --test-timeout seconds,
//   - a file whose tests have all ended but whose process has not exited after --exit-grace seconds,
//   - a file that runs longer than --file-timeout seconds,
//   - the whole run past --suite-timeout seconds.
// Past a ceiling the file's whole process tree is killed (tests start their servers in their own
// groups, so the tree is walked in /proc) and the file fails naming the test that was running.
// After every file, processes it left behind (found by a marker in their environment) are killed
// and reported as a failure. With CI=true a skipped test is a failure: a missing part must not
// pass silently.
//
// usage: node scripts/run-tests.mjs [path-substring ...] [--file-timeout=s] [--test-timeout=s]
//        [--exit-grace=s] [--suite-timeout=s] [--concurrency=n]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine, descendants, killAll, markedProcesses, processTable } from './process-tree.mjs';
import { ensureSystemDeps } from './system-deps.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const options = { 'file-timeout': 480, 'test-timeout': 240, 'exit-grace': 90, 'suite-timeout': 40 * 60, concurrency: 2 };
const only = [];
for (const arg of process.argv.slice(2)) {
  const m = arg.match(/^--([a-z-]+)=(\d+)$/);
  if (m && m[1] in options) options[m[1]] = Number(m[2]);
  else if (arg.startsWith('--')) {
    console.error(`unknown option ${arg}; accepted: ${Object.keys(options).map((k) => `--${k}=<number>`).join(' ')}`);
    process.exit(2);
  } else only.push(arg);
}
const inCi = /^(1|true|yes)$/i.test(process.env.CI ?? '');
const MARKER = 'FLOODGATE_TEST_RUN';
const runId = `${process.pid}-${Date.now().toString(36)}`;
const started = Date.now();

function collect(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

// FG_TEST_DIR: another folder of test files (the runner's own test runs it on a few of its own)
const testDir = process.env.FG_TEST_DIR ?? join(root, 'test');
const serialDir = join(relative(root, testDir), 'serial') + '/';
const all = collect(testDir).filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const serial = all.filter((f) => f.startsWith(serialDir));
const parallel = all.filter((f) => !f.startsWith(serialDir));

if (!ensureSystemDeps({ log: (line) => console.log(line) })) process.exit(1);

const build = process.env.FG_TEST_SKIP_BUILD === '1' ? { status: 0 } : spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit', timeout: 10 * 60_000 });
if (build.status !== 0) {
  console.error('build failed');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'fg-test-run-'));
const totals = { pass: 0, fail: 0, skipped: 0, cancelled: 0 };
const problems = []; // lines for the closing summary
const running = new Set(); // file runs in flight, for the suite ceiling
let suiteExpired = false;

function summaryCount(text, key) {
  const m = text.match(new RegExp(`^# ${key} (\\d+)`, 'm'));
  return m ? Number(m[1]) : undefined;
}

/** The innermost test that has started and not ended, from the progress reporter's file. */
function runningTests(progressFile) {
  let lines = [];
  try {
    lines = readFileSync(progressFile, 'utf8').split('\n').filter(Boolean);
  } catch {
    return { stack: [], lastAt: undefined, queued: 0, ended: 0 };
  }
  const stack = [];
  let lastAt;
  let queued = 0;
  let ended = 0;
  for (const line of lines) {
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      continue; // a line being written
    }
    lastAt = ev.at;
    if (ev.e === 'enqueue') queued++;
    else if (ev.e === 'dequeue') stack.push(ev);
    else {
      if (ev.nesting === 0) ended++;
      const i = stack.findLastIndex((s) => s.name === ev.name && s.nesting === ev.nesting);
      if (i >= 0) stack.splice(i, 1);
    }
  }
  return { stack, lastAt, queued, ended };
}

function killLeftovers(file, reason) {
  // let processes that exit on their own when their parent goes (cluster workers) do so first
  const left = markedProcesses(MARKER, `${runId}:${file}`);
  if (left.length === 0) return [];
  const described = left.map((pid) => `${pid} ${commandLine(pid)}`);
  killAll(left);
  if (reason) problems.push(`${file}: ${reason}:\n    ${described.join('\n    ')}`);
  return described;
}

function runFile(file) {
  return new Promise((resolve) => {
    const progressFile = join(work, `${file.replaceAll('/', '_')}.progress`);
    const fileStart = Date.now();
    const child = spawn(
      process.execPath,
      [
        '--import', 'tsx',
        '--test-reporter=tap', '--test-reporter-destination=stdout',
        `--test-reporter=${join(root, 'scripts/test-progress-reporter.mjs')}`, `--test-reporter-destination=${progressFile}`,
        file,
      ],
      {
        cwd: root,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, FLOODGATE_TEST: '1', [MARKER]: `${runId}:${file}` },
      },
    );
    const run = { file, child, killedFor: undefined, kill: undefined };
    running.add(run);
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));

    const killTree = (why) => {
      if (run.killedFor) return;
      const { stack } = runningTests(progressFile);
      const names = stack.map((s) => s.name).join(' > ');
      run.killedFor = names ? `${why}; running: ${names}` : why;
      const table = processTable();
      killAll([...descendants(child.pid, table), child.pid], table);
    };
    run.kill = killTree;

    const watchdog = setInterval(() => {
      const now = Date.now();
      if (now - fileStart > options['file-timeout'] * 1000) {
        killTree(`file ran longer than --file-timeout=${options['file-timeout']} s`);
        return;
      }
      const { stack, lastAt, queued, ended } = runningTests(progressFile);
      const since = lastAt ?? fileStart;
      if (stack.length > 0 && now - since > options['test-timeout'] * 1000) {
        killTree(`test made no progress for --test-timeout=${options['test-timeout']} s`);
      } else if (queued > 0 && ended >= queued && stack.length === 0 && now - since > options['exit-grace'] * 1000) {
        // every test ended, yet the process lives on: something it opened (a server, a child, a timer) was never closed
        killTree(`every test ended but the process did not exit within --exit-grace=${options['exit-grace']} s (a server, socket, child or timer left open, or an after() hook hung)`);
      }
    }, 1000);

    let exited = false;
    const finish = (code, signal) => {
      if (exited) return;
      exited = true;
      clearInterval(watchdog);
      running.delete(run);
      // a grandchild holding our pipes must not hold the run: stop reading after a short grace
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        const secs = ((Date.now() - fileStart) / 1000).toFixed(1);
        const counts = {};
        for (const key of ['pass', 'fail', 'skipped', 'cancelled']) counts[key] = summaryCount(out, key);
        const complete = counts.pass !== undefined && !run.killedFor;
        for (const key of Object.keys(counts)) totals[key] += counts[key] ?? 0;
        process.stdout.write(`\n# ── ${file} (${secs} s)\n${out.trimEnd()}\n`);
        let failed = code !== 0 || !complete || (counts.fail ?? 0) > 0 || (counts.cancelled ?? 0) > 0;
        if (run.killedFor) problems.push(`${file}: killed: ${run.killedFor}`);
        else if (!complete) problems.push(`${file}: exited (code ${code}, signal ${signal}) without a test summary`);
        for (const m of out.matchAll(/^\s*not ok \d+ - (.*)$/gm)) problems.push(`${file}: not ok - ${m[1]}`);
        if (inCi && (counts.skipped ?? 0) > 0) {
          failed = true;
          for (const m of out.matchAll(/^\s*ok \d+ - (.*) # SKIP(.*)$/gm)) problems.push(`${file}: skipped in CI - ${m[1]}:${m[2]}`);
        }
        // give processes that follow their parent out (cluster workers, tsx's esbuild) a moment
        const deadline = Date.now() + 5000;
        const sweep = () => {
          if (markedProcesses(MARKER, `${runId}:${file}`).length > 0 && Date.now() < deadline) {
            setTimeout(sweep, 250);
            return;
          }
          if (killLeftovers(file, 'left processes running after it ended (killed)').length > 0) failed = true;
          if (failed && !(counts.fail > 0)) totals.fail += 1; // a file that failed without a failing test counts once
          resolve(failed ? 1 : 0);
        };
        sweep();
      }, code === null ? 100 : 500);
    };
    child.on('exit', finish);
    child.on('error', (err) => {
      out += `\nspawn failed: ${err.message}\n`;
      finish(1, null);
    });
  });
}

async function runPool(files, concurrency) {
  let failed = 0;
  const queue = [...files];
  const lanes = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    while (queue.length > 0 && !suiteExpired) {
      // not `failed += await …`: that reads `failed` before the await, so a lane finishing meanwhile
      // had its failure overwritten (a Node 20 CI line with 3 failed tests exited 0)
      const result = await runFile(queue.shift());
      failed += result;
    }
  });
  await Promise.all(lanes);
  return failed;
}

const suiteTimer = setTimeout(() => {
  suiteExpired = true;
  for (const run of running) run.kill(`the suite ran longer than --suite-timeout=${options['suite-timeout']} s`);
}, options['suite-timeout'] * 1000);

const onSignal = (signal) => {
  for (const run of running) run.kill(`the runner got ${signal}`);
  setTimeout(() => process.exit(130), 1500);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const failedFiles = (await runPool(parallel, options.concurrency)) + (await runPool(serial, 1));
clearTimeout(suiteTimer);
rmSync(work, { recursive: true, force: true });
if (suiteExpired) problems.push(`the suite was stopped at --suite-timeout=${options['suite-timeout']} s; files not run were skipped`);

const secs = ((Date.now() - started) / 1000).toFixed(1);
if (problems.length > 0) console.log(`\nProblems:\n  ${problems.join('\n  ')}`);
console.log(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped${totals.cancelled ? `, ${totals.cancelled} cancelled` : ''} (${all.length} files, ${secs} s, node ${process.versions.node})`);
process.exit(failedFiles > 0 || suiteExpired || totals.pass === 0 ? 1 : 0);
