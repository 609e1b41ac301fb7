import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RejectionLog, type RejectionSummary } from '../../src/server/rejection-log.js';
import { newCounters } from '../../src/server/stats.js';

test('refused upgrades are summed per window, one line per status, nothing when quiet', { timeout: 5000 }, () => {
  const c = newCounters();
  const lines: RejectionSummary[] = [];
  const log = new RejectionLog(c, (s) => lines.push(s), 10_000, 0);
  c.rejectedOverCapacity += 331;
  c.rejectedAdmissionTimeout += 1669;
  assert.deepEqual(log.tick(9_999), [], 'nothing before the window is over');
  log.tick(10_000);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].line, '503 × 2,000 in the last 10 s: over_capacity 331, admission_timeout 1,669');
  assert.deepEqual(lines[0].reasons, { over_capacity: 331, admission_timeout: 1669 });
  // a quiet window logs nothing; the next one counts only its own refusals
  log.tick(20_000);
  assert.equal(lines.length, 1);
  c.rejectedOverCapacity += 5;
  c.rejectedUnauthorized += 2;
  log.tick(32_000);
  assert.deepEqual(lines.slice(1).map((l) => l.line), ['503 × 5 in the last 12 s: over_capacity 5', '401 × 2 in the last 12 s: unauthorized 2']);
});
