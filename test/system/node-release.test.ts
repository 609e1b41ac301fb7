import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { nodeReleaseStatus, TESTED_NODE_MAJORS } from '../../src/system/node-release.js';
import { formatStartupReport } from '../../src/admin/startup-report.js';
import { createGateway } from '../../src/server/gateway.js';

const root = new URL('../..', import.meta.url);

test('end of life: Node 20 warns from 2026-04-30, 22 and 24 do not yet', () => {
  const at = (d: string) => new Date(`${d}T12:00:00Z`);
  assert.equal(nodeReleaseStatus('v20.20.2', at('2026-04-29')).warning, undefined);
  const eol = nodeReleaseStatus('v20.20.2', at('2026-04-30'));
  assert.deepEqual([eol.major, eol.endOfLife, eol.endOfLifeReached], [20, '2026-04-30', true]);
  assert.equal(eol.warning, 'Node 20.20.2 reached end of life on 2026-04-30 and gets no security fixes; run Floodgate on Node 24 (LTS) or 22');
  assert.equal(nodeReleaseStatus('v22.23.5', at('2026-12-01')).endOfLifeReached, false);
  assert.equal(nodeReleaseStatus('v22.23.5', at('2027-04-30')).endOfLifeReached, true);
  assert.equal(nodeReleaseStatus('v24.22.3', at('2026-12-01')).warning, undefined);
  assert.equal(nodeReleaseStatus('v14.0.0', at('2026-12-01')).endOfLifeReached, true);
  assert.deepEqual([nodeReleaseStatus('v99.0.0').endOfLife, nodeReleaseStatus('v99.0.0').warning], [undefined, undefined]);
});

test('the startup block names the Node version and carries the end-of-life warning of this runtime', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  try {
    const report = g.startupReport();
    assert.equal(report.node_version, process.version);
    const expected = nodeReleaseStatus().warning;
    assert.equal(report.warnings.includes(expected ?? ''), expected !== undefined);
    const text = formatStartupReport(report);
    assert.match(text, new RegExp(`node ${process.version.replace(/\./g, '\\.')}\\) ===`));
    if (expected) assert.ok(text.includes(`WARNING: ${expected}`));
  } finally {
    await g.close();
  }
});

test('engines, .ci/run and the tested majors name the same Node lines', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
  const majors = (pkg.engines.node as string).split('||').map((r) => Number(r.trim().match(/^\^(\d+)\./)![1]));
  assert.deepEqual(majors, [...TESTED_NODE_MAJORS]);
  const ci = readFileSync(new URL('.ci/run', root), 'utf8');
  const ciMajors = ci.match(/NODE_MAJORS="\$\{NODE_MAJORS:-([\d ]+)\}"/)![1].split(' ').map(Number);
  // CI runs the suite on the machine's own node (20 on these Debian machines) and then on each of these
  assert.deepEqual([20, ...ciMajors].sort((a, b) => a - b), [...TESTED_NODE_MAJORS]);
});
