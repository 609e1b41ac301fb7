import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createGateway } from '../../src/server/gateway.js';
import { createMetrics } from '../../src/admin/metrics.js';
import type { AdminStats } from '../../src/admin/admin-stats.js';

const isDefaultCollector = (name: string): boolean => /^floodgate_(process|nodejs)_/.test(name);

test('docs/metrics.md lists every metric /metrics exports, and nothing else', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  try {
    const registry = createMetrics(() => g.admin.stats() as AdminStats);
    const exported = registry.getMetricsAsArray().map((m) => m.name).filter((n) => !isDefaultCollector(n)).sort();
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `(floodgate_[a-z_]+)` \|/gm)].map((m) => m[1]).sort();
    assert.ok(exported.length > 30, `only ${exported.length} metrics registered`);
    assert.deepEqual(documented, exported);
    // the scrape itself renders (every collect reads a real snapshot)
    assert.match(await registry.metrics(), /^floodgate_api_publications_total 0$/m);
  } finally {
    await g.close(1000);
  }
});
