// Load generator cost, side by side in one run: `floodgate bench` against a plain `ws` client script,
// Tsung (Debian package `tsung`, when installed) and Artillery 2 (from the npm registry through
// npx, into npx's cache outside the repository: a peer, not a dependency; skipped with the reason
// when it cannot be installed), each doing the same work: N WebSocket
// connections (FG_BENCH_CONNECTIONS, default 10,000) opened at 1,000/s against a plain `ws` server
// in its own process, held 20 s, then dropped. 3 runs per tool (FG_BENCH_RUNS), the tools'
// order rotated each run so that no tool always runs first or last on a loaded machine.
// FG_BENCH_BASELINE_CLI=/path/to/dist/cli/main.js adds another floodgate build (before/after).
// Prints a markdown section; writes benchmarks/results/loadgen.json.
// Run: npm run bench -- loadgen   (or node --import tsx benchmarks/loadgen/run.ts)
//
// How each tool is measured, the same way for all:
// - CPU: user + system time of the tool's whole process tree over its whole life (start-up,
//   ramp, hold, teardown), from the kernel's rusage of the tool's waited-for children
//   (/usr/bin/time), so worker processes and Erlang schedulers all count.
// - Memory: every process of the tool (its process group) summed from /proc every 250 ms; the
//   idle footprint is read while the tool waits for a start time 1 s ahead with nothing open
//   (floodgate `--start-at`, the ws script's START_AT; Tsung has no such pause), the peak while
//   everything is held. RSS per held connection is (peak − idle) / held.
// - Evidence sampling: the CPU floodgate's coordinator spent reading socket states, from its result.
import { spawn, spawnSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.FG_BENCH_CONNECTIONS ?? 10_000);
const RATE = 1000;
const HOLD_S = 20;
const RUNS = Number(process.env.FG_BENCH_RUNS ?? 3);
const TICK = 100; // USER_HZ
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const root = here('../..');
const CLI = join(root, 'dist', 'cli', 'main.js');
const BASELINE_CLI = process.env.FG_BENCH_BASELINE_CLI;
const TSUNG = ['/usr/bin/tsung', '/usr/local/bin/tsung'].find((p) => existsSync(p));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const work = mkdtempSync(join(tmpdir(), 'fg-bench-loadgen-'));
const ARTILLERY_VERSION = '2.0.34';

/**
 * Artillery's executable in npx's cache, installed there on first use (from a directory outside
 * the repository, so nothing lands in its package.json or lockfile), or why it is not available.
 * FG_BENCH_ARTILLERY=0 leaves it out.
 */
function findArtillery(): { bin?: string; skipped?: string } {
  if (process.env.FG_BENCH_ARTILLERY === '0') return { skipped: 'left out (FG_BENCH_ARTILLERY=0)' };
  const r = spawnSync('npx', ['--yes', '-p', `artillery@${ARTILLERY_VERSION}`, '-c', 'command -v artillery'], { cwd: work, encoding: 'utf8', timeout: 900_000 });
  const bin = r.stdout?.trim().split('\n').pop();
  if (r.status === 0 && bin && existsSync(bin)) return { bin };
  return { skipped: `not installable here (npx artillery@${ARTILLERY_VERSION}: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()?.slice(0, 160) || `exit ${r.status}`})` };
}
const ARTILLERY = findArtillery();

function procStat(pid: number): { cpu: number; rss: number; pgid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { cpu: (Number(f[11]) + Number(f[12])) / TICK, rss: Number(f[21]) * 4096, pgid: Number(f[2]) };
  } catch {
    return undefined;
  }
}

/** RSS of every process in a process group (the tool and everything it started). */
function groupRss(pgid: number): number {
  let sum = 0;
  for (const d of readdirSync('/proc')) {
    // the group leader is /usr/bin/time, not the tool
    if (!/^\d+$/.test(d) || Number(d) === pgid) continue;
    const s = procStat(Number(d));
    if (s && s.pgid === pgid) sum += s.rss;
  }
  return sum;
}

async function startServer(): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(here('./ws-server.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((r) => child.once('message', (m: { port: number }) => r(m.port)));
  return { child, port };
}

interface Measure {
  tool: string;
  run: number;
  held: number;
  cpuS: number;
  cpuPer1000: number;
  idleMB?: number;
  peakMB: number;
  rssPerConnKB?: number;
  serverCpuPer1000: number;
  wallS: number;
  samplingShare?: number;
  samplingCpuS?: number;
  processes?: number;
  load: number[];
}

interface Launch {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  /** Epoch ms at which the tool opens its first connection (idle footprint read 1 s before). */
  startAt?: number;
  /** After exit: held connections and tool-specific extras. */
  parse: (stdout: string) => { held: number; samplingCpuS?: number; processes?: number };
}

async function measure(tool: string, run: number, launch: (port: number, sourceIp: string) => Launch, sourceIp: string): Promise<Measure> {
  const srv = await startServer();
  const l = launch(srv.port, sourceIp);
  const load = loadavg().map((x) => Math.round(x * 100) / 100);
  const s0 = procStat(srv.child.pid!)!.cpu;
  const timeFile = join(work, `time-${tool}-${run}`);
  const t0 = performance.now();
  // /usr/bin/time reports the rusage of the tool and every descendant it waited for
  const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, l.cmd, ...l.args], {
    cwd: work, env: { ...process.env, ...l.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let idle: number | undefined;
  let peak = 0;
  let done = false;
  void exited.then(() => (done = true));
  // generous: on a loaded machine a tool may start and ramp far slower than planned
  const deadline = t0 + (N / RATE + HOLD_S + 240) * 1000;
  while (!done && performance.now() < deadline) {
    const rss = groupRss(child.pid!);
    if (l.startAt !== undefined && Date.now() < l.startAt - 300) idle = rss; // the last read before the start
    if (rss > peak) peak = rss;
    await sleep(250);
  }
  if (!done) {
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    throw new Error(`${tool} run ${run} did not finish in time; stderr: ${stderr.slice(-2000)}`);
  }
  const wallS = (performance.now() - t0) / 1000;
  const serverCpu = procStat(srv.child.pid!)!.cpu - s0;
  srv.child.kill('SIGKILL');
  const [user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  let out: ReturnType<Launch['parse']>;
  try {
    out = l.parse(stdout);
  } catch (err) {
    throw new Error(`${tool} run ${run}: no result (${(err as Error).message}); stderr: ${stderr.slice(-2000)}`);
  }
  if (!(out.held > 0)) throw new Error(`${tool} run ${run} held no connection; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`);
  const cpuS = user + sys;
  const m: Measure = {
    tool, run, held: out.held, cpuS: r3(cpuS), cpuPer1000: r3((cpuS / out.held) * 1000), peakMB: r1(peak / 1048576),
    serverCpuPer1000: r3((serverCpu / out.held) * 1000), wallS: r1(wallS), load,
  };
  if (idle !== undefined) {
    m.idleMB = r1(idle / 1048576);
    m.rssPerConnKB = r2((peak - idle) / out.held / 1024);
  }
  if (out.samplingCpuS !== undefined) {
    m.samplingCpuS = r3(out.samplingCpuS);
    m.samplingShare = r3(out.samplingCpuS / cpuS);
  }
  if (out.processes !== undefined) m.processes = out.processes;
  return m;
}

function floodgate(cli: string): (port: number, sourceIp: string) => Launch {
  return (port, sourceIp) => {
    // generous: Node starts slowly on a loaded machine, and a start already past is refused
    const startAt = Date.now() + 30_000;
    const outFile = join(work, `fg-${port}.json`);
    return {
      cmd: process.execPath,
      args: [cli, 'bench', `ws://127.0.0.1:${port}/`, '-c', String(N), '--rate', `${RATE}/s`, '-d', `${HOLD_S}s`, '--teardown', 'reset', '--source-ips', sourceIp, '--start-at', String(startAt), '--out', outFile],
      startAt,
      parse: () => {
        const r = JSON.parse(readFileSync(outFile, 'utf8'));
        const sampling = r.evidence?.socketStates?.cpuMs;
        return { held: r.totals.opened, samplingCpuS: sampling === undefined ? undefined : sampling / 1000, processes: r.plan.inProcess ? 1 : r.plan.workers + 1 };
      },
    };
  };
}

const wsClient = (port: number, sourceIp: string): Launch => {
  const startAt = Date.now() + 8000;
  return {
    cmd: process.execPath,
    args: [here('./ws-client-script.mjs')],
    env: { URL: `ws://127.0.0.1:${port}/`, COUNT: String(N), RATE: String(RATE), HOLD_MS: String(HOLD_S * 1000), SOURCE_IP: sourceIp, START_AT: String(startAt) },
    startAt,
    parse: (stdout) => ({ held: JSON.parse(stdout.trim().split('\n').pop()!).opened, processes: 1 }),
  };
};

const tsung = (port: number, sourceIp: string): Launch => {
  const dir = mkdtempSync(join(work, 'tsung-'));
  // the same work: N users arriving at RATE/s (Tsung draws exponential inter-arrivals), each
  // opens a WebSocket, holds it HOLD_S and closes it. The phase is 3× as long as N / RATE with
  // `maxnumber` N: Tsung drops the users it could not launch before its phase ended ("Phase
  // duration exceeded … tsung may be overloaded"), which on a loaded machine would be most of them.
  writeFileSync(join(dir, 'bench.xml'), `<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd" []>
<tsung loglevel="warning" version="1.0" dumptraffic="false">
  <clients><client host="localhost" use_controller_vm="true" maxusers="${N + 1000}"><ip value="${sourceIp}"/></client></clients>
  <servers><server host="127.0.0.1" port="${port}" type="tcp"/></servers>
  <load><arrivalphase phase="1" duration="${Math.ceil((3 * N) / RATE)}" unit="second"><users maxnumber="${N}" arrivalrate="${RATE}" unit="second"/></arrivalphase></load>
  <sessions><session name="hold" probability="100" type="ts_websocket">
    <request><websocket type="connect" path="/"></websocket></request>
    <thinktime value="${HOLD_S}" random="false"/>
    <request><websocket type="close"></websocket></request>
  </session></sessions>
</tsung>
`);
  return {
    cmd: TSUNG!,
    args: ['-f', join(dir, 'bench.xml'), '-l', join(dir, 'log'), 'start'],
    parse: () => {
      const logDir = readdirSync(join(dir, 'log')).map((d) => join(dir, 'log', d)).find((d) => existsSync(join(d, 'tsung.log')));
      const log = logDir ? readFileSync(join(logDir, 'tsung.log'), 'utf8') : '';
      // `stats: websocket_succ <this interval> <total>`: the last line has the run's total
      const totals = [...log.matchAll(/^stats: websocket_succ (\d+) (\d+)/gm)].map((m) => Number(m[2]));
      return { held: totals.length > 0 ? Math.max(...totals) : 0 };
    },
  };
};

const artillery = (port: number, sourceIp: string): Launch => {
  const dir = mkdtempSync(join(work, 'artillery-'));
  // the same work: RATE arrivals per second for N / RATE s, each opening a WebSocket (the ws
  // engine, i.e. the `ws` client; config.ws goes to its constructor, hence the source address),
  // holding it HOLD_S and closing it
  writeFileSync(join(dir, 'bench.yml'), `config:
  target: "ws://127.0.0.1:${port}/"
  phases:
    - duration: ${Math.ceil(N / RATE)}
      arrivalRate: ${RATE}
      maxVusers: ${N}
  ws:
    localAddress: "${sourceIp}"
scenarios:
  - engine: ws
    flow:
      - think: ${HOLD_S}
`);
  const report = join(dir, 'report.json');
  return {
    cmd: ARTILLERY.bin!,
    args: ['run', '--output', report, join(dir, 'bench.yml')],
    env: { ARTILLERY_DISABLE_TELEMETRY: 'true' },
    parse: () => {
      const counters = JSON.parse(readFileSync(report, 'utf8')).aggregate?.counters ?? {};
      // a virtual user completes after its connection was open for the whole think time
      return { held: Number(counters['vusers.completed'] ?? 0) };
    },
  };
};

const r1 = (n: number): number => Math.round(n * 10) / 10;
const r2 = (n: number): number => Math.round(n * 100) / 100;
const r3 = (n: number): number => Math.round(n * 1000) / 1000;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const tools: { name: string; launch: (port: number, sourceIp: string) => Launch }[] = [
  { name: 'floodgate', launch: floodgate(CLI) },
  ...(BASELINE_CLI ? [{ name: 'floodgate (baseline build)', launch: floodgate(BASELINE_CLI) }] : []),
  { name: 'ws client', launch: wsClient },
  ...(TSUNG ? [{ name: 'Tsung', launch: tsung }] : []),
  ...(ARTILLERY.bin ? [{ name: 'Artillery', launch: artillery }] : []),
];

const loadBefore = loadavg();
const results: Measure[] = [];
const failedRuns: { tool: string; run: number; error: string }[] = [];
for (let run = 0; run < RUNS; run++) {
  for (let k = 0; k < tools.length; k++) {
    const i = (run + k) % tools.length;
    // a source address per tool and run: no TIME_WAIT left by one can slow another's bind()
    const sourceIp = `127.0.${20 + run}.${2 + i}`;
    try {
      const m = await measure(tools[i].name, run + 1, tools[i].launch, sourceIp);
      console.error(`loadgen: ${JSON.stringify(m)}`);
      results.push(m);
    } catch (err) {
      // one tool's failed run is reported, not allowed to end the others' runs
      console.error(`loadgen: ${(err as Error).message}`);
      failedRuns.push({ tool: tools[i].name, run: run + 1, error: (err as Error).message.slice(0, 500) });
    }
    await sleep(1000);
  }
}
const loadAfter = loadavg();
rmSync(work, { recursive: true, force: true });

interface Summary { tool: string; runs: number; held: number; cpuPer1000: number; cpuRuns: number[]; idleMB?: number; peakMB: number; rssPerConnKB?: number; serverCpuPer1000: number; samplingShare?: number; processes?: number }
const summaries: Summary[] = tools.filter(({ name }) => results.some((m) => m.tool === name)).map(({ name }) => {
  const ms = results.filter((m) => m.tool === name);
  const opt = (f: (m: Measure) => number | undefined): number | undefined => {
    const xs = ms.map(f).filter((x): x is number => x !== undefined);
    return xs.length > 0 ? median(xs) : undefined;
  };
  return {
    tool: name, runs: ms.length, held: Math.min(...ms.map((m) => m.held)),
    cpuPer1000: r3(median(ms.map((m) => m.cpuPer1000))), cpuRuns: ms.map((m) => m.cpuPer1000),
    idleMB: opt((m) => m.idleMB), peakMB: r1(median(ms.map((m) => m.peakMB))), rssPerConnKB: opt((m) => m.rssPerConnKB),
    serverCpuPer1000: r3(median(ms.map((m) => m.serverCpuPer1000))), samplingShare: opt((m) => m.samplingShare), processes: opt((m) => m.processes),
  };
});
const by = (name: string): Summary | undefined => summaries.find((s) => s.tool === name);
const fg = by('floodgate');
const ws = by('ws client');
if (!fg || !ws) {
  console.error(`loadgen: no complete run of ${!fg ? 'floodgate' : 'the ws client'}; failed runs: ${JSON.stringify(failedRuns)}`);
  process.exit(1);
}
const ts = by('Tsung');
const art = by('Artillery');
const ratios = {
  cpuVsArtillery: art ? r3(fg.cpuPer1000 / art.cpuPer1000) : undefined,
  cpuVsWs: r3(fg.cpuPer1000 / ws.cpuPer1000),
  cpuVsTsung: ts ? r3(fg.cpuPer1000 / ts.cpuPer1000) : undefined,
};
const goals = { cpuVsWs: 0.7, cpuVsTsung: 0.5, idleMB: 80, samplingShare: 0.05, rssPerConnKB: 5 };
const met = {
  cpuVsWs: ratios.cpuVsWs <= goals.cpuVsWs,
  cpuVsTsung: ratios.cpuVsTsung === undefined ? undefined : ratios.cpuVsTsung <= goals.cpuVsTsung,
  idleMB: fg.idleMB !== undefined && fg.idleMB <= goals.idleMB,
  samplingShare: fg.samplingShare !== undefined && fg.samplingShare <= goals.samplingShare,
  rssPerConnKB: fg.rssPerConnKB !== undefined && fg.rssPerConnKB <= goals.rssPerConnKB,
};
const la = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' / ');
const result = {
  connections: N, ratePerSec: RATE, holdS: HOLD_S, runs: RUNS,
  loadAverage: { before: loadBefore.map(r2), after: loadAfter.map(r2) },
  summaries, ratios, goals, met, measurements: results, failedRuns,
  artillery: ARTILLERY.bin ? { version: ARTILLERY_VERSION } : { skipped: ARTILLERY.skipped },
};
mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../results/loadgen.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);

const yes = (b: boolean | undefined): string => (b === undefined ? 'n/a' : b ? 'met' : '**not met**');
const cell = (x: number | undefined, unit = ''): string => (x === undefined ? '—' : `${x}${unit}`);
const peers = ['the ws client', ...(ts ? ['Tsung'] : []), ...(art ? ['Artillery'] : [])];
console.log(`## Load generator: floodgate bench vs ${peers.slice(0, -1).join(', ')}${peers.length > 1 ? ' and ' : ''}${peers[peers.length - 1]}

Each tool opens ${N.toLocaleString('en-US')} WebSocket connections at ${RATE.toLocaleString('en-US')}/s from one source address to a plain \`ws\` server (its own process, a fresh one per run), holds them ${HOLD_S} s and drops them; ${RUNS} runs per tool, the order rotated each run; medians below. Command: \`npm run bench -- loadgen\` (FG_BENCH_CONNECTIONS, FG_BENCH_RUNS; FG_BENCH_BASELINE_CLI adds another floodgate build).

CPU is the user + system time of each tool's whole process tree over its whole life (start-up included), from the kernel's accounting of its waited-for processes. Memory is every process of the tool summed: idle while it waits, with nothing open, for a start 1 s ahead; peak while everything is held. floodgate: \`bench -c ${N} --rate ${RATE}/s -d ${HOLD_S}s --teardown reset\` (holds ${HOLD_S} s after the last arrival); ws client: a one-process script that does the same; Tsung${ts ? '' : ' (not installed: `apt-get install tsung`)'}: users arriving at ${RATE}/s, each connecting, thinking ${HOLD_S} s and closing; Artillery ${ARTILLERY_VERSION}${ARTILLERY.bin ? '' : ` (${ARTILLERY.skipped})`}: the same arrivals with its \`ws\` engine, each virtual user thinking ${HOLD_S} s.

| tool | processes | held (min) | CPU s per 1,000 connections (runs) | idle footprint | peak RSS | RSS per held connection | server CPU s per 1,000 | evidence sampling, share of the tool's CPU |
|---|---|---|---|---|---|---|---|---|
${summaries.map((s) => `| ${s.tool} | ${cell(s.processes)} | ${s.held} | **${s.cpuPer1000}** (${s.cpuRuns.join(', ')}) | ${cell(s.idleMB, ' MB')} | ${s.peakMB} MB | ${cell(s.rssPerConnKB, ' KB')} | ${s.serverCpuPer1000} | ${s.samplingShare === undefined ? '—' : `${r2(s.samplingShare * 100)} %`} |`).join('\n')}

| goal | measured | |
|---|---|---|
| CPU per 1,000 ≤ ${goals.cpuVsWs}× the ws client | ${ratios.cpuVsWs}× | ${yes(met.cpuVsWs)} |
| CPU per 1,000 ≤ ${goals.cpuVsTsung}× Tsung | ${ratios.cpuVsTsung === undefined ? '—' : `${ratios.cpuVsTsung}×`} | ${yes(met.cpuVsTsung)} |
| CPU per 1,000 against Artillery (no goal) | ${ratios.cpuVsArtillery === undefined ? '—' : `${ratios.cpuVsArtillery}×`} | |
| idle footprint ≤ ${goals.idleMB} MB (all generator processes) | ${cell(fg.idleMB, ' MB')} | ${yes(met.idleMB)} |
| evidence sampling ≤ ${goals.samplingShare * 100} % of the generator's CPU | ${fg.samplingShare === undefined ? '—' : `${r2(fg.samplingShare * 100)} %`} | ${yes(met.samplingShare)} |
| RSS per held connection ≤ ${goals.rssPerConnKB} KB | ${cell(fg.rssPerConnKB, ' KB')} | ${yes(met.rssPerConnKB)} |

Load average (1/5/15 min) on this shared machine: ${la(loadBefore)} before, ${la(loadAfter)} after; each run's is in the JSON. When the machine is this loaded, the plain \`ws\` server cannot accept every connection in time and each tool holds fewer than ${N.toLocaleString('en-US')}: CPU is divided by the connections each run actually held (the "held" column), which counts failed attempts' work against the tool.${failedRuns.length > 0 ? `\n\nRuns that did not complete (left out above): ${failedRuns.map((f) => `${f.tool} run ${f.run} (${f.error.split(';')[0]})`).join('; ')}.` : ''}
`);
process.exit(0);
