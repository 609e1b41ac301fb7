import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { createGateway } from '../../src/server/gateway.js';
import { adminDenied, effectiveAdminAccess } from '../../src/admin/admin-access.js';
import type { FloodgateError } from '../../src/errors.js';

function fetchStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let body: any = text;
        try { body = JSON.parse(text); } catch { /* metrics text */ }
        resolve({ status: res.statusCode ?? 0, body });
      });
    }).on('error', reject);
  });
}

/** The request as Node hands it over, reduced to what the policy reads. */
const req = (remoteAddress: string, headers: Record<string, string> = {}, url = '/stats'): IncomingMessage =>
  ({ socket: { remoteAddress }, headers, url }) as unknown as IncomingMessage;

test('the policy: auto = token when set, else loopback; loopback admits 127/8, ::1 and mapped IPv4 only', () => {
  assert.equal(effectiveAdminAccess('auto', ''), 'loopback');
  assert.equal(effectiveAdminAccess('auto', 't'), 'token');
  assert.equal(effectiveAdminAccess('off', 't'), 'off');
  for (const a of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) assert.equal(adminDenied('loopback', '', req(a)), undefined, a);
  for (const a of ['10.0.0.5', '::ffff:10.0.0.5', '2001:db8::1', '128.0.0.1']) assert.match(adminDenied('loopback', '', req(a)) ?? '', /loopback peers only/, a);
  assert.equal(adminDenied('token', 'sekret', req('10.0.0.5', { authorization: 'Bearer sekret' })), undefined);
  assert.equal(adminDenied('token', 'sekret', req('10.0.0.5', {}, '/metrics?token=sekret')), undefined);
  assert.match(adminDenied('token', 'sekret', req('127.0.0.1', { 'x-floodgate-token': 'nope' })) ?? '', /needs the dashboard token/);
  assert.equal(adminDenied('off', '', req('10.0.0.5')), undefined);
});

test('with a dashboardToken, /stats, /stats/machine and /metrics need it like /dashboard; /healthz stays open', { timeout: 120_000 }, async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', dashboardToken: 'sekret' });
  try {
    for (const path of ['/stats', '/stats/machine', '/metrics']) {
      const denied = await fetchStatus(g.port, path);
      assert.equal(denied.status, 403, path);
      assert.equal(denied.body.code, 'FG_ERR_ADMIN_FORBIDDEN', path);
      assert.equal((await fetchStatus(g.port, path, { authorization: 'Bearer sekret' })).status, 200, path);
      assert.equal((await fetchStatus(g.port, `${path}?token=sekret`)).status, 200, path);
    }
    assert.equal((await fetchStatus(g.port, '/dashboard')).body.code, 'FG_ERR_DASHBOARD_TOKEN');
    assert.equal((await fetchStatus(g.port, '/dashboard?token=sekret')).status, 200);
    assert.equal((await fetchStatus(g.port, '/healthz')).status, 200);
    assert.equal(g.stats().http.refused.admin_forbidden, 3);
    assert.match(g.startupReport().protection.adminAccess, /^token$/);
  } finally {
    await g.close(1000);
  }
});

test('adminAccess token without a dashboardToken is a configuration error; loopback answers this machine', { timeout: 120_000 }, async () => {
  await assert.rejects(createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', adminAccess: 'token' }), (e: FloodgateError) => e.code === 'FG_ERR_INVALID_CONFIG' && /dashboardToken/.test(e.message));
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent' });
  try {
    assert.equal(g.adminAccess, 'loopback');
    assert.equal((await fetchStatus(g.port, '/stats')).status, 200);
    assert.equal((await fetchStatus(g.port, '/metrics')).status, 200);
  } finally {
    await g.close(1000);
  }
});
