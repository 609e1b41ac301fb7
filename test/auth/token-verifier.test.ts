import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK } from 'jose';
import { createToken, signToken } from '../../src/auth/create-token.js';
import { TokenVerifier, type AuthSettings } from '../../src/auth/token-verifier.js';
import { createLegacyToken } from '../../src/auth/upgrade-auth.js';
import { createGateway } from '../../src/server/gateway.js';
import { rawUpgrade } from '../helpers/ws-peer.js';

const none: AuthSettings = { authSecret: '', authPublicKey: '', authJwks: '', authAudience: '', authIssuer: '', authLegacyTokens: false };
const inAMinute = () => Math.floor(Date.now() / 1000) + 60;
const dir = mkdtempSync(join(tmpdir(), 'fg-auth-'));

function verifier(s: Partial<AuthSettings>): TokenVerifier {
  const v = TokenVerifier.fromSettings({ ...none, ...s });
  assert.ok(v);
  return v;
}

async function refused(v: TokenVerifier, token: string | undefined, re: RegExp): Promise<void> {
  const r = await v.verify(token);
  assert.equal(r.ok, false, `expected a refusal matching ${re}`);
  if (!r.ok) assert.match(r.reason, re);
}

test('HS256/384/512: createToken makes standard JWTs the gateway verifies with jose; claims are checked', async () => {
  const v = verifier({ authSecret: 'top-secret' });
  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    const token = createToken('top-secret', { sub: 'u1', exp: inAMinute(), channels: ['chat:*'] }, { alg });
    assert.equal(token.split('.').length, 3);
    assert.deepEqual(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()), { alg, typ: 'JWT' });
    const r = await v.verify(token);
    assert.ok(r.ok);
    assert.equal(r.claims.sub, 'u1');
    assert.deepEqual(r.claims.channels, ['chat:*']);
  }
  await refused(v, createToken('other', { exp: inAMinute() }), /bad signature/);
  await refused(v, createToken('top-secret', { exp: Math.floor(Date.now() / 1000) - 5 }), /expired/);
  await refused(v, createToken('top-secret', { exp: inAMinute(), nbf: inAMinute() }), /nbf/);
  await refused(v, createToken('top-secret', {} as never), /exp/);
  await refused(v, createToken('top-secret', { exp: inAMinute(), channels: 'chat' as never }), /channels must be a list/);
  await refused(v, undefined, /no token/);
  await refused(v, 'not-a-token', /malformed|Invalid/i);
  // a key-signed token is refused when only a secret is configured: no algorithm confusion
  const { privateKey } = generateKeyPairSync('ed25519');
  await refused(v, await signToken(privateKey, { exp: inAMinute() }, { alg: 'EdDSA' }), /algorithm|not accepted|alg/i);
});

test('aud and iss are checked when configured', async () => {
  const v = verifier({ authSecret: 's', authAudience: 'floodgate', authIssuer: 'https://login.example' });
  const ok = await v.verify(createToken('s', { exp: inAMinute(), aud: ['floodgate', 'other'], iss: 'https://login.example' }));
  assert.ok(ok.ok);
  await refused(v, createToken('s', { exp: inAMinute(), aud: 'someone-else', iss: 'https://login.example' }), /aud/);
  await refused(v, createToken('s', { exp: inAMinute(), aud: 'floodgate', iss: 'https://evil.example' }), /iss/);
  await refused(v, createToken('s', { exp: inAMinute() }), /aud|iss/);
});

test('RS256, ES256 and EdDSA with a PEM public key file; a private key file is refused at startup', async () => {
  const pairs: [string, KeyObject, KeyObject][] = [];
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  pairs.push(['RS256', rsa.privateKey, rsa.publicKey], ['ES256', ec.privateKey, ec.publicKey], ['EdDSA', ed.privateKey, ed.publicKey]);
  for (const [alg, priv, pub] of pairs) {
    const file = join(dir, `${alg}.pem`);
    writeFileSync(file, pub.export({ type: 'spki', format: 'pem' }));
    const v = verifier({ authPublicKey: file });
    const r = await v.verify(await signToken(priv, { sub: alg, exp: inAMinute() }, { alg }));
    assert.ok(r.ok, alg);
    assert.equal(r.claims.sub, alg);
    const stranger = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : generateKeyPairSync('ed25519').privateKey;
    await refused(v, await signToken(stranger, { exp: inAMinute() }, { alg }), /bad signature/);
    // an HS token cannot pass as a key-signed one
    await refused(v, createToken('x', { exp: inAMinute() }), /algorithm|not accepted|alg/i);
  }
  const privFile = join(dir, 'private.pem');
  writeFileSync(privFile, ed.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  assert.throws(() => TokenVerifier.fromSettings({ ...none, authPublicKey: privFile }), (e: Error & { code?: string }) => e.code === 'FG_ERR_INVALID_CONFIG' && /authPublicKey.*private key/.test(e.message));
  assert.throws(() => TokenVerifier.fromSettings({ ...none, authPublicKey: join(dir, 'missing.pem') }), /authPublicKey.*cannot read/);
  assert.throws(() => TokenVerifier.fromSettings({ ...none, authLegacyTokens: true }), /authLegacyTokens/);
});

test('JWKS file: keys picked by kid, and the file is reread when it changes (a removed key stops working)', { timeout: 120_000 }, async () => {
  const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const b = generateKeyPairSync('ed25519');
  const jwk = async (k: KeyObject, kid: string, alg: string) => ({ ...(await exportJWK(k)), kid, alg });
  const file = join(dir, 'jwks.json');
  const write = async (keys: object[]): Promise<void> => {
    writeFileSync(`${file}.tmp`, JSON.stringify({ keys }));
    renameSync(`${file}.tmp`, file); // atomic replace, as deploy tools do
  };
  await write([await jwk(a.publicKey, 'k-a', 'ES256'), await jwk(b.publicKey, 'k-b', 'EdDSA')]);
  const v = verifier({ authJwks: file });
  try {
    const tokenB = await signToken(b.privateKey, { sub: 'b', exp: inAMinute() }, { alg: 'EdDSA', kid: 'k-b' });
    assert.ok((await v.verify(tokenB)).ok);
    assert.ok((await v.verify(await signToken(a.privateKey, { exp: inAMinute() }, { alg: 'ES256', kid: 'k-a' }))).ok);
    await refused(v, await signToken(b.privateKey, { exp: inAMinute() }, { alg: 'EdDSA', kid: 'k-unknown' }), /no key in the JWKS/);
    await write([await jwk(a.publicKey, 'k-a', 'ES256')]);
    const deadline = Date.now() + 20_000;
    while ((await v.verify(tokenB)).ok) {
      assert.ok(Date.now() < deadline, 'the JWKS change was not picked up within 20 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    await refused(v, tokenB, /no key in the JWKS/);
    // a broken file keeps the previous keys
    writeFileSync(file, '{"keys": [');
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok((await v.verify(await signToken(a.privateKey, { exp: inAMinute() }, { alg: 'ES256', kid: 'k-a' }))).ok);
  } finally {
    v.close();
  }
});

test('gateway: JWT upgrade accepted, bad JWT 401 with the reason; legacy tokens only with authLegacyTokens', async () => {
  const g = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', authSecret: 'gw' });
  try {
    assert.equal((await rawUpgrade(g.port, { path: `/?token=${createToken('gw', { exp: inAMinute() })}` })).status, 101);
    const expired = await rawUpgrade(g.port, { headers: { Authorization: `Bearer ${createToken('gw', { exp: 1 })}` } });
    assert.equal(expired.status, 401);
    assert.deepEqual(JSON.parse(expired.body), { code: 'FG_ERR_UNAUTHORIZED', message: 'token expired' });
    assert.equal((await rawUpgrade(g.port, { path: `/?token=${createLegacyToken('gw', { exp: inAMinute() })}` })).status, 401);
    assert.match(g.startupReport().protection.authText, /HS256/);
    const checked = await g.checkToken(createToken('gw', { sub: 'r', exp: inAMinute(), channels: ['a:*'] }));
    assert.ok(checked.ok);
    assert.equal(checked.ok && checked.sub, 'r');
    assert.equal(checked.ok && checked.canUse?.('a:1'), true);
    assert.equal(checked.ok && checked.canUse?.('b'), false);
    assert.deepEqual(await g.checkToken(createToken('gw', { exp: 1 })), { ok: false, reason: 'token expired' });
  } finally {
    await g.close(1000);
  }
  const legacy = await createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', authSecret: 'gw', authLegacyTokens: true });
  try {
    assert.equal((await rawUpgrade(legacy.port, { path: `/?token=${createLegacyToken('gw', { exp: inAMinute() })}` })).status, 101);
    assert.equal((await rawUpgrade(legacy.port, { path: `/?token=${createToken('gw', { exp: inAMinute() })}` })).status, 101);
    assert.equal((await rawUpgrade(legacy.port, { path: `/?token=${createLegacyToken('nope', { exp: inAMinute() })}` })).status, 401);
  } finally {
    await legacy.close(1000);
  }
});

test('a sub with a lone surrogate is refused: presence in Redis keeps subs as UTF-8, where \\ud800 and \\udbff would be one user', async () => {
  const v = verifier({ authSecret: 'top-secret' });
  for (const sub of ['\ud800', 'u\udfff', '\udc00\ud800']) await refused(v, createToken('top-secret', { sub, exp: inAMinute() }), /sub.*lone surrogate/);
  const ok = await v.verify(createToken('top-secret', { sub: 'ü😀', exp: inAMinute() }));
  assert.ok(ok.ok && ok.claims.sub === 'ü😀');
});
