import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exceedsDepth, nestingDepth } from '../../src/protocol/depth.js';

test('nestingDepth counts arrays and objects, not brackets inside strings or after escapes', () => {
  assert.equal(nestingDepth('1'), 0);
  assert.equal(nestingDepth('{"type":"ping"}'), 1);
  assert.equal(nestingDepth('{"data":[1,[2],{"a":{}}]}'), 4);
  assert.equal(nestingDepth('{"s":"[[[[{{{{"}'), 1);
  assert.equal(nestingDepth('{"s":"\\"[[[["}'), 1);
  assert.equal(nestingDepth('{"s":"\\\\","d":[[1]]}'), 3);
  assert.equal(nestingDepth('[]'.repeat(50)), 1);
});

test('exceedsDepth: exactly the limit passes, one more fails, and 100,000 levels do not recurse', () => {
  const nest = (n: number): string => '{"d":'.repeat(n) + '0' + '}'.repeat(n);
  assert.equal(exceedsDepth(nest(32), 32), false);
  assert.equal(exceedsDepth(nest(33), 32), true);
  assert.equal(exceedsDepth('['.repeat(100_000) + ']'.repeat(100_000), 32), true);
  // many brackets side by side: the fast count says "maybe", the walk says no
  assert.equal(exceedsDepth(`{"d":[${'[1],'.repeat(200)}[1]]}`, 32), false);
  // brackets in strings only
  assert.equal(exceedsDepth(`{"d":"${'['.repeat(100)}"}`, 32), false);
});
