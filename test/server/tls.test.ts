import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../../src/client/index.js';
import { createGateway } from '../../src/server/gateway.js';
import { run } from '../../src/loadgen/index.js';
import { installPair, selfSigned } from '../helpers/self-signed.js';
import { openPeer } from '../helpers/ws-peer.js';
import { freePort } from '../helpers/redis-server.js';
import { startServe, stopServe } from '../helpers/serve-process.js';

const until = async (cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** The fingerprint of the certificate a fresh TLS handshake gets. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

function httpsJson(port: number, method: string, path: string, ca: string, body?: object, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, ca, agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

test('TLS: wss:// and https:// on the public listener, https on the admin one; the SDK verifies with a CA; certificates reload without dropping connections', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-tls-gw-'));
  const [certPath, keyPath] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  const first = selfSigned();
  installPair(first, certPath, keyPath);
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', tlsCert: certPath, tlsKey: keyPath, adminPort: 0, adminTls: true, apiKey: 'k' });
  const clients: Client[] = [];
  try {
    assert.equal(g.startupReport().listen.tls, true);
    const url = `wss://localhost:${g.port}/`;
    const health = await httpsJson(g.port, 'GET', '/healthz', first.cert);
    assert.equal(health.body.status, 'ok');

    // the SDK trusts the self-signed certificate through `ca`; without it, verification fails
    const c = new Client(url, { tls: { ca: first.cert }, circuitThreshold: 0 });
    clients.push(c);
    const got: unknown[] = [];
    c.subscribe('secure', (m) => got.push(m.data));
    await c.ready(10_000);
    const untrusted = new Client(url, { maxAttempts: 1, circuitThreshold: 0 });
    clients.push(untrusted);
    const err = await new Promise<Error & { code?: string }>((r) => untrusted.once('error', r));
    assert.equal(err.code, 'FG_ERR_CONNECT_FAILED');
    assert.match(err.message, /self[- ]signed|certificate/i);

    const adminPort = g.admin.address!.port;
    await until(async () => (await httpsJson(adminPort, 'GET', '/api/channels', first.cert, undefined, { 'x-api-key': 'k' })).body.channels.length === 1, 10_000, 'subscribed');
    const pub = await httpsJson(adminPort, 'POST', '/api/publish', first.cert, { channel: 'secure', data: 'one' }, { 'x-api-key': 'k' });
    assert.equal(pub.body.offset, 1);
    await until(() => got.length === 1, 10_000, 'first message over wss');

    // a held connection (raw ws, no reconnect logic) must survive the certificate change
    const held = await openPeer(`wss://127.0.0.1:${g.port}/`, { rejectUnauthorized: false });
    held.send({ type: 'subscribe', id: 1, channel: 'secure' });
    await held.next((f) => f.type === 'subscribed');

    assert.equal(await servedFingerprint(g.port), first.fingerprint);
    const second = selfSigned();
    installPair(second, certPath, keyPath);
    await until(async () => (await servedFingerprint(g.port)) === second.fingerprint, 20_000, 'the new certificate served after the file change');
    assert.equal(await servedFingerprint(adminPort), second.fingerprint, 'the admin listener reloaded too');
    assert.equal(g.tls!.reloads, 1);

    await httpsJson(adminPort, 'POST', '/api/publish', second.cert, { channel: 'secure', data: 'two' }, { 'x-api-key': 'k' });
    assert.equal((await held.next((f) => f.type === 'message' && f.data === 'two')).offset, 2);
    await until(() => got.length === 2, 10_000, 'second message to the SDK client on its old TLS session');
    assert.equal(held.closeCode, undefined);
    held.close();

    // a broken pair is refused; the last good one stays
    installPair({ ...first, key: second.key }, certPath, keyPath);
    assert.equal(g.tls!.reload('test'), false);
    assert.equal(await servedFingerprint(g.port), second.fingerprint);
  } finally {
    for (const c of clients) await c.close();
    await g.close(1000);
  }
});

test('TLS settings are validated at startup', async () => {
  const pair = selfSigned();
  const dir = mkdtempSync(join(tmpdir(), 'fg-tls-bad-'));
  installPair(pair, join(dir, 'c.pem'), join(dir, 'k.pem'));
  const base = { host: '127.0.0.1', port: 0, logLevel: 'silent' } as const;
  const code = (re: RegExp) => (e: Error & { code?: string }) => e.code === 'FG_ERR_INVALID_CONFIG' && re.test(e.message);
  await assert.rejects(createGateway({ ...base, tlsCert: join(dir, 'c.pem') }), code(/tlsKey.*both/));
  await assert.rejects(createGateway({ ...base, tlsCert: join(dir, 'c.pem'), tlsKey: join(dir, 'missing.pem') }), code(/tlsKey.*cannot read/));
  await assert.rejects(createGateway({ ...base, tlsCert: join(dir, 'k.pem'), tlsKey: join(dir, 'k.pem') }), code(/not a matching PEM/));
  await assert.rejects(createGateway({ ...base, adminTls: true, adminPort: 0 }), code(/adminTls/));
});

test('floodgate bench speaks wss://: --insecure for a self-signed server, and without it the certificate error is reported', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-tls-bench-'));
  const pair = selfSigned();
  installPair(pair, join(dir, 'c.pem'), join(dir, 'k.pem'));
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', tlsCert: join(dir, 'c.pem'), tlsKey: join(dir, 'k.pem') });
  try {
    const ok = await run({ url: `wss://127.0.0.1:${g.port}/`, connections: 20, durationMs: 300, workers: 1, insecure: true });
    assert.equal(ok.totals.successes, 20);
    const refused = await run({ url: `wss://127.0.0.1:${g.port}/`, connections: 5, durationMs: 0, workers: 1 });
    assert.equal(refused.totals.successes, 0);
    assert.equal(refused.totals.failures, 5);
    assert.match(refused.failures.map((f) => f.kind).join(' '), /SELF_SIGNED|CERT/);
  } finally {
    await g.close(1000);
  }
});

test('serve --tls-cert: SIGHUP rereads the certificate in the running process', { timeout: 150_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-tls-hup-'));
  const [certPath, keyPath] = [join(dir, 'c.pem'), join(dir, 'k.pem')];
  const first = selfSigned();
  installPair(first, certPath, keyPath);
  const port = await freePort();
  const g = await startServe(port, ['--tls-cert', certPath, '--tls-key', keyPath], /"listening"/);
  try {
    assert.equal(await servedFingerprint(port), first.fingerprint);
    const second = selfSigned();
    installPair(second, certPath, keyPath);
    process.kill(g.pid, 'SIGHUP');
    await until(() => /"why":"SIGHUP"/.test(g.stderr) || /"why":"file change"/.test(g.stderr), 20_000, 'the reload log line');
    assert.equal(await servedFingerprint(port), second.fingerprint);
    assert.ok(g.alive, 'SIGHUP does not stop the server');
  } finally {
    await stopServe(g);
  }
});
