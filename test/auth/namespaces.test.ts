// The namespace resolver: longest prefix wins, fields left out take the top-level value, and
// the claim rules a connection token must meet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelNamespaces } from '../../src/auth/namespaces.js';
import { resolveSettings } from '../../src/config/resolve.js';
import { SERVER_SETTINGS, type ServerSettings } from '../../src/config/server-settings.js';
import { FloodgateError } from '../../src/errors.js';

function namespaces(file: Record<string, unknown>, extra: { presence?: boolean; joinLeave?: boolean } = {}): ChannelNamespaces {
  const { values } = resolveSettings<ServerSettings>(SERVER_SETTINGS, { file, env: {} });
  return new ChannelNamespaces({ ...values, ...extra });
}

test('the longest matching prefix wins; channels in no namespace get the top-level settings', () => {
  const ns = namespaces({
    historySize: 500, historyTtl: '1m',
    namespaces: { 'chat:': { historySize: 50 }, 'chat:vip:': { historyBytes: '4KB', clientPublish: false }, 'c': { historyTtl: 0 } },
  });
  const vip = ns.rulesFor('chat:vip:lobby');
  assert.deepEqual(
    [vip.namespace, vip.historySize, vip.historyBytes, vip.historyTtl, vip.clientPublish],
    ['chat:vip:', 500, 4096, 60_000, false],
    'fields left out of chat:vip: come from the top level, not from the shorter chat:',
  );
  assert.deepEqual(vip.history, { maxCount: 500, maxBytes: 4096, ttlMs: 60_000 });
  const chat = ns.rulesFor('chat:lobby');
  assert.deepEqual([chat.namespace, chat.historySize, chat.clientPublish], ['chat:', 50, true]);
  assert.equal(ns.rulesFor('cat').namespace, 'c');
  assert.equal(ns.rulesFor('chat:vip:').namespace, 'chat:vip:', 'a channel named exactly like the prefix is in it');
  const none = ns.rulesFor('news');
  assert.deepEqual([none.namespace, none.historySize, none.historyTtl, none.clientPublish], [null, 500, 60_000, true]);
  assert.equal(ns.rulesFor('news'), ns.defaults, 'the same frozen object every time: nothing allocated per lookup');
  assert.ok(Object.isFrozen(vip) && Object.isFrozen(vip.history));
  assert.equal(ns.historyFor('chat:x'), chat.history);
});

test('presence and joinLeave: the top-level values are the defaults, a namespace overrides them', () => {
  const off = namespaces({ namespaces: { 'room:': { presence: true }, 'quiet:': {} } });
  assert.deepEqual([off.rulesFor('room:1').presence, off.rulesFor('room:1').joinLeave], [true, false]);
  assert.deepEqual([off.defaults.presence, off.defaults.joinLeave], [false, false]);
  const on = namespaces({ namespaces: { 'room:': { joinLeave: false }, 'quiet:': {} } }, { presence: true, joinLeave: true });
  assert.deepEqual([on.rulesFor('room:1').presence, on.rulesFor('room:1').joinLeave], [true, false]);
  assert.deepEqual([on.rulesFor('quiet:1').presence, on.rulesFor('quiet:1').joinLeave], [true, true]);
  assert.deepEqual([on.rulesFor('other').presence, on.rulesFor('other').joinLeave], [true, true]);
});

test('claim rules: the channels claim must list the channel, a claim must hold an accepted value', () => {
  const ns = namespaces({
    authSecret: 's',
    namespaces: { 'private:': { requireChannelsClaim: true }, 'desk:': { requireClaims: { role: ['trader', 'admin'], level: 2 } } },
  });
  assert.equal(ns.hasClaimRules, true);
  const anyChannel = ns.accessFor({ sub: 'u' })!;
  assert.equal(anyChannel('news'), true, 'no channels claim = every channel outside rule namespaces');
  assert.equal(anyChannel('private:u1'), false, 'no channels claim does not grant a namespace that requires one');
  const listed = ns.accessFor({ channels: ['private:u1', 'news*'] })!;
  assert.deepEqual(['private:u1', 'private:u2', 'news:1', 'other'].map(listed), [true, false, true, false]);
  const wildcard = ns.accessFor({ channels: ['private:*'] })!;
  assert.equal(wildcard('private:anyone'), true, 'a prefix entry of the channels claim lists the channel');
  assert.equal(ns.accessFor({ role: 'trader', level: 2 })!('desk:1'), true);
  assert.equal(ns.accessFor({ role: ['viewer', 'admin'], level: 2 })!('desk:1'), true, 'a list claim holds when one element is accepted');
  assert.equal(ns.accessFor({ role: 'viewer', level: 2 })!('desk:1'), false);
  assert.equal(ns.accessFor({ role: 'trader', level: '2' })!('desk:1'), false, 'values compare with their JSON type');
  assert.equal(ns.accessFor({ role: 'trader' })!('desk:1'), false, 'a missing claim does not hold');
  assert.equal(ns.requirement('desk:1'), 'namespace desk: requires claim `role` to be "trader" or "admin" and claim `level` to be 2');
  assert.equal(ns.requirement('news'), '');
});

test('without claim rules a token without a channels claim needs no check per frame', () => {
  const ns = namespaces({ namespaces: { 'prices:': { clientPublish: false } } });
  assert.equal(ns.hasClaimRules, false);
  assert.equal(ns.accessFor({ sub: 'u' }), undefined);
  assert.equal(ns.accessFor({ channels: ['a'] })!('b'), false);
});

test('claim rules without token checks are a startup error naming the namespace field', () => {
  const ns = namespaces({ namespaces: { 'desk:': { requireClaims: { role: 'admin' } } } });
  assert.throws(() => ns.checkTokensConfigured(false), (e: FloodgateError) =>
    e.code === 'FG_ERR_INVALID_CONFIG' && e.message === 'Invalid value for `namespaces.desk:.requireClaims`: token claims are only known when the gateway checks tokens; set authSecret, authPublicKey or authJwks');
  ns.checkTokensConfigured(true);
});

test('the startup lines describe each namespace, longest prefix first', () => {
  const ns = namespaces({ namespaces: { 'a:': { historySize: 0 }, 'a:b:': { clientPublish: false, historyTtl: '2m', requireChannelsClaim: true } } });
  assert.deepEqual(ns.describe(), [
    'a:b: history 1000 messages, 1 MiB, 2m, server publish only, presence off, join/leave off, token `channels` must list the channel',
    'a: no history, clients publish, presence off, join/leave off',
  ]);
});

test('rulesFor agrees with a brute-force longest-prefix search (generated prefixes and channels)', async () => {
  const fc = (await import('fast-check')).default;
  const alphabet = fc.constantFrom('a', 'b', 'c', ':', '-');
  const word = (max: number) => fc.array(alphabet, { minLength: 1, maxLength: max }).map((cs) => cs.join(''));
  fc.assert(
    fc.property(fc.uniqueArray(word(6), { maxLength: 12 }), fc.array(word(8), { maxLength: 30 }), (prefixes, channels) => {
      const ns = new ChannelNamespaces({
        historySize: 1000, historyBytes: 1024, historyTtl: 0,
        namespaces: Object.fromEntries(prefixes.map((p, i) => [p, { historySize: i }])),
      });
      for (const channel of [...channels, ...prefixes]) {
        const expected = prefixes.filter((p) => channel.startsWith(p)).sort((x, y) => y.length - x.length)[0] ?? null;
        assert.equal(ns.rulesFor(channel).namespace, expected, `${channel} among ${JSON.stringify(prefixes)}`);
      }
    }),
    { numRuns: 500 },
  );
});

test('prefixes and claim names that are Object.prototype names (__proto__, constructor, toString) are namespaces like any other', () => {
  // JSON.parse (flag, env, JSON file) keeps `__proto__` as an own key: it is a valid prefix of the channel alphabet
  const raw = JSON.parse('{"__proto__":{"presence":true},"constructor":{"clientPublish":false},"desk:":{"requireClaims":{"constructor":"x","toString":["y"]}}}');
  const { values } = resolveSettings<ServerSettings>(SERVER_SETTINGS, { file: { namespaces: raw }, env: {} });
  assert.deepEqual(Object.keys(values.namespaces).sort(), ['__proto__', 'constructor', 'desk:']);
  const ns = new ChannelNamespaces(values);
  assert.deepEqual([ns.rulesFor('__proto__').namespace, ns.rulesFor('__proto__x').presence], ['__proto__', true], 'the __proto__ namespace was dropped silently');
  assert.equal(ns.rulesFor('news').presence, false, 'and it changed no other channel');
  assert.equal(ns.rulesFor('constructor:1').clientPublish, false);
  assert.deepEqual(Object.keys(ns.rulesFor('desk:1').requireClaims).sort(), ['constructor', 'toString']);
  assert.equal(ns.allows('desk:1', { constructor: 'x', toString: 'y' }), true);
  assert.equal(ns.allows('desk:1', { toString: 'y' }), false, 'a token without the claim does not pass on Object.prototype.constructor');
});
