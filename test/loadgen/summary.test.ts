import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgePace } from '../../src/loadgen/pace.js';
import { renderClosing, renderProgress, retryAfterNote } from '../../src/loadgen/summary.js';
import type { LatencySummary, SeriesPoint } from '../../src/loadgen/types.js';

const tick = {
  t: 12, open: 3210, attempts: 480, successes: 470, failures: 10, target: 5000, plannedSeconds: 40, planned: 500, requestedRate: 500, behind: 0,
  total: { attempts: 3300, successes: 3210, failures: 60 },
  failureTotals: { 'upgrade.status_503': 50, 'connect.ETIMEDOUT': 10 },
};

test('the progress line keeps held/attempted, waiting and failures by kind apart (no mid-ramp "success %")', { timeout: 5000 }, () => {
  assert.equal(
    renderProgress(tick),
    '[12.0 s / 40 s] open 3,210 of 5,000 · +480/s (plan 500/s) · held 3,210 of 3,300 attempted, 30 waiting · failures 60: upgrade.status_503 50, connect.ETIMEDOUT 10',
  );
  assert.doesNotMatch(renderProgress(tick), /success|%/);
  assert.equal(renderProgress({ ...tick, total: { attempts: 10, successes: 10, failures: 0 }, failureTotals: {} }).split(' · ').at(-1), 'no failures');
  // a terminal line is cut to the width so \r redraws one row
  assert.equal(renderProgress(tick, 40).length, 40);
  assert.match(renderProgress({ ...tick, t: 45 }), /^\[45\.0 s, planned 40 s: waiting for answers\]/);
});

test('the progress line says when the generator falls behind its schedule, and why', { timeout: 5000 }, () => {
  const behind = renderProgress({ ...tick, attempts: 512, planned: 1000, requestedRate: 1000, behind: 900, lagMeanMs: 1200, cpu: 0.98 });
  assert.match(behind, /\+512\/s \(plan 1,000\/s\)/);
  assert.match(behind, /GENERATOR BEHIND 900 starts, lag 1\.2 s: worker CPU 98%$/);
  assert.doesNotMatch(renderProgress({ ...tick, behind: 20 }), /BEHIND/, '20 overdue at 500/s is timer noise');
  assert.equal(renderClosing({ open: 5000, t: 41.2 }), '[41.2 s] closing 5,000 connections …');
  assert.equal(renderClosing({ open: 0, t: 3 }), '[3.0 s] ending: no connection open, collecting the results …');
});

test('a 503 example that shows its Retry-After is not followed by the same value again', { timeout: 5000 }, () => {
  assert.equal(retryAfterNote({ example: 'HTTP/1.1 503 Service Unavailable (Retry-After: 5)', retryAfter: [5] }), '');
  assert.equal(retryAfterNote({ example: 'HTTP/1.1 503 Service Unavailable (Retry-After: 5)', retryAfter: [5, 10] }), ' [Retry-After 5, 10]');
  assert.equal(retryAfterNote({ example: 'HTTP/1.1 503', retryAfter: [3] }), ' [Retry-After 3]');
});

const lag = (p50: number): LatencySummary => ({ count: 100, min: 1, mean: p50, p50, p90: p50, p99: p50 * 2, p999: p50 * 2, max: p50 * 3 });
const point = (t: number, attempts: number, planned: number, behind: number, cpu: number): SeriesPoint =>
  ({ t, open: 0, attempts, successes: attempts, failures: 0, handshakeP50: 1, handshakeP99: 2, planned, behind, cpu });

test('pace: a generator behind its schedule says by how much and names the limit it hit', { timeout: 5000 }, () => {
  const series = [point(1, 1000, 1000, 0, 0.5), point(2, 512, 1000, 488, 0.99), point(3, 600, 1000, 888, 0.99)];
  const p = judgePace(series, 1000, lag(1200), [])!;
  assert.equal(p.keptUp, false);
  assert.deepEqual(p.limitedBy, ['cpu']);
  assert.equal(p.maxBehind, 888);
  assert.match(p.note!, /\+600\/s while 1,000\/s was asked \(at 3 s, 888 starts overdue\), start lag p50 1\.2 s; why: a worker used 99% of a core/);
  const ports = judgePace(series, 1000, lag(1200), [{ kind: 'connect.EADDRNOTAVAIL', phase: 'connect', side: 'generator', count: 5, example: 'x' }])!;
  assert.deepEqual(ports.limitedBy, ['cpu', 'ports']);
  const ok = judgePace([point(1, 500, 500, 3, 0.3)], 500, lag(3), [])!;
  assert.equal(ok.keptUp, true);
  assert.equal(ok.note, undefined);
  assert.equal(judgePace(series, 0, lag(1), []), undefined, 'bursts have no rate to keep');
});
