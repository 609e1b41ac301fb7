// The "Many machines" examples of docs/bench.md: the Kubernetes manifests are validated against the
// Kubernetes API schemas (kubernetes-models: the OpenAPI schemas of the API server, compiled; types,
// required fields and enums, not unknown fields), and the commands their containers run are run
// here as the Indexed Job would run them (one shell per completion index, the pod's env with
// Kubernetes' $(VAR) expansion), then the merge Job's. The ssh script runs with an `ssh` that runs
// the remote command locally.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { WebSocketServer } from 'ws';
import { parseAllDocuments } from 'yaml';
import type { BenchResult } from '../../src/loadgen/types.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifestFile = join(root, 'docs/examples/bench-kubernetes.yaml');

interface K8sObject { apiVersion: string; kind: string; metadata: { name: string }; spec: any }
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'batch/v1/Job': Job,
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
};

function validate(o: K8sObject): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

const manifests = (): K8sObject[] => parseAllDocuments(readFileSync(manifestFile, 'utf8')).map((d) => d.toJS() as K8sObject);

/** A container's env as the kubelet builds it: `$(VAR)` refers to a variable defined earlier in the list. */
function podEnv(env: { name: string; value: string }[], overrides: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) out[e.name] = overrides[e.name] ?? e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => out[v] ?? m);
  return out;
}

function sh(argv: string[], env: Record<string, string>, cwd = root, timeoutMs = 240_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(argv[0], argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const kill = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
  return new Promise((res) => child.on('close', (status) => {
    clearTimeout(kill);
    res({ status, stdout, stderr });
  }));
}

describe('docs/bench.md "Many machines" examples', { timeout: 600_000 }, () => {
  let redis: RedisServer;
  let wss: WebSocketServer;
  let target: string;
  let dir: string;
  let PATH: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-examples-'));
    // `floodgate` on PATH, as in the image
    writeFileSync(join(dir, 'floodgate'), `#!/bin/sh\nexec "${process.execPath}" --import "${import.meta.resolve('tsx')}" "${join(root, 'src/cli/main.ts')}" "$@"\n`);
    // `ssh HOST CMD…`: runs CMD here, through a shell like sshd does
    writeFileSync(join(dir, 'fake-ssh'), '#!/bin/sh\nshift\nexec sh -c "$*"\n');
    chmodSync(join(dir, 'floodgate'), 0o755);
    chmodSync(join(dir, 'fake-ssh'), 0o755);
    PATH = `${dir}:${process.env.PATH}`;
    redis = await startRedis();
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    target = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
  });
  after(async () => {
    wss.close();
    await redis.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every manifest validates against its Kubernetes schema; a broken one does not', () => {
    const docs = manifests();
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), ['Deployment/floodgate-bench-redis', 'Service/floodgate-bench-redis', 'PersistentVolumeClaim/floodgate-bench-results', 'Job/floodgate-bench', 'Job/floodgate-bench-merge']);
    for (const d of docs) validate(d);
    const job = docs[3];
    assert.equal(job.spec.completionMode, 'Indexed');
    const segments = Number(job.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'SEGMENTS').value);
    assert.equal(job.spec.completions, segments);
    assert.equal(job.spec.parallelism, segments);
    // the validator is not a rubber stamp
    const broken = structuredClone(job);
    broken.spec.completions = 'four';
    assert.throws(() => validate(broken), /completions must be integer/);
    const noImage = structuredClone(job);
    delete noImage.spec.template.spec.containers;
    assert.throws(() => validate(noImage), /must have required property containers/);
  });

  it('the Indexed Job\'s command for every completion index, then the merge Job\'s, give one run of the whole scenario', async () => {
    const docs = manifests();
    const [job, merge] = [docs[3], docs[4]];
    const bench = job.spec.template.spec.containers[0];
    const n = job.spec.completions as number;
    const runId = `k8s-${process.pid}`;
    const overrides = { RUN_ID: runId, TARGET_URL: target, SYNC_URL: `redis://127.0.0.1:${redis.port}/${runId}`, CONNECTIONS: '41', RATE: '200/s', HOLD: '300ms', RESULTS_DIR: dir };
    const pods = Array.from({ length: n }, (_, i) => sh(bench.command, { ...podEnv(bench.env, overrides), JOB_COMPLETION_INDEX: String(i), HOSTNAME: `floodgate-bench-${i}-x`, PATH }));
    const mc = merge.spec.template.spec.containers[0];
    assert.equal(mc.volumeMounts[0].mountPath, podEnv(mc.env, {}).RESULTS_DIR);
    const merger = sh(mc.command, { ...podEnv(mc.env, overrides), PATH });
    const done = await Promise.all(pods);
    done.forEach((r, i) => {
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`segment ${i + 1}/${n} on floodgate-bench-${i}-x`));
    });
    const m = await merger;
    assert.equal(m.status, 0, m.stderr);
    const run = JSON.parse(readFileSync(join(dir, `${runId}.json`), 'utf8')) as BenchResult;
    assert.equal(run.totals.attempts, 41);
    assert.equal(run.totals.successes, 41);
    assert.deepEqual(run.parts!.map((p) => p.label), Array.from({ length: n }, (_, i) => `floodgate-bench-${i}-x`));
    assert.match(readFileSync(join(dir, `${runId}.html`), 'utf8'), /<h2>Machines<\/h2>/);
  });

  it('the ssh script runs one segment per host and merges them', async () => {
    const runId = `ssh-${process.pid}`;
    const r = await sh(['sh', join(root, 'docs/examples/bench-ssh.sh')], {
      PATH, SSH: 'fake-ssh', HOSTS: 'load1 load2 load3', TARGET: target, REDIS: `redis://127.0.0.1:${redis.port}`,
      CONNECTIONS: '20', RATE: '100/s', HOLD: '200ms', RUN_ID: runId, BENCH_FLAGS: '-w 1',
    }, dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /held to the end 20 of 20 attempted/);
    assert.doesNotMatch(r.stdout, /undefined|NaN/);
    assert.match(r.stdout, /Machines \(3, merged\):\n {2}clocks vs Redis: -?[\d.]+ … -?[\d.]+ ms \(machines apart by up to [\d.]+ ms; each start corrected by its own skew\)\n {2}load1 1\/3: 7\/7 held, skew -?[\d.]+ ms — All 7 handshakes succeeded\./);
    const run = JSON.parse(readFileSync(join(dir, `${runId}.json`), 'utf8')) as BenchResult;
    assert.equal(run.totals.attempts, 20);
    assert.match(readFileSync(join(dir, `${runId}-load2.log`), 'utf8'), /segment 2\/3 on load2: 7 of the scenario's 20 connections/);
  });
});
