import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attemptError, fatalCloseCode, refusalIsFinal } from '../../src/client/close-policy.js';
import { CloseCode, RECONNECTABLE_CLOSE_CODES } from '../../src/protocol/close-codes.js';

test('every code the protocol marks reconnectable is reconnected; "fix the client" codes stop', () => {
  for (const code of RECONNECTABLE_CLOSE_CODES) assert.equal(fatalCloseCode(code, false), undefined, `close ${code}`);
  assert.equal(fatalCloseCode(1005, false), undefined);
  assert.equal(fatalCloseCode(CloseCode.NORMAL, false), 'FG_ERR_SERVER_ERROR');
  assert.equal(fatalCloseCode(CloseCode.MESSAGE_TOO_BIG, false), 'FG_ERR_BAD_FRAME');
  assert.equal(fatalCloseCode(CloseCode.BAD_FRAMES, false), 'FG_ERR_BAD_FRAME');
  assert.equal(fatalCloseCode(CloseCode.UNAUTHORIZED, false), 'FG_ERR_UNAUTHORIZED');
  assert.equal(fatalCloseCode(CloseCode.UNAUTHORIZED, true), undefined, 'a token function may fetch a fresh token');
  assert.equal(fatalCloseCode(4999, false), 'FG_ERR_SERVER_ERROR');
});

test('refused upgrades map to coded errors; 403 and fixed-token 401 are final', () => {
  assert.equal(attemptError('ws://x', { status: 503, retryAfter: 5 }, 1006, '').code, 'FG_ERR_OVER_CAPACITY');
  assert.equal(attemptError('ws://x', { status: 503, code: 'FG_ERR_SHUTTING_DOWN' }, 1006, '').code, 'FG_ERR_SHUTTING_DOWN');
  // a proxy's answer (no gateway body, no Retry-After) is not the gateway's admission
  assert.equal(attemptError('ws://x', { status: 503 }, 1006, '').code, 'FG_ERR_UPSTREAM_UNAVAILABLE');
  assert.equal(attemptError('ws://x', { status: 502 }, 1006, '').code, 'FG_ERR_UPSTREAM_UNAVAILABLE');
  assert.equal(attemptError('ws://x', { status: 504 }, 1006, '').code, 'FG_ERR_UPSTREAM_UNAVAILABLE');
  assert.equal(attemptError('ws://x', { status: 500 }, 1006, '').code, 'FG_ERR_CONNECT_FAILED');
  assert.equal(attemptError('ws://x', undefined, 1006, '', new Error('connect ECONNREFUSED')).message, 'could not connect to ws://x: connect ECONNREFUSED');
  assert.equal(refusalIsFinal({ status: 403 }, true), true);
  assert.equal(refusalIsFinal({ status: 401 }, false), true);
  assert.equal(refusalIsFinal({ status: 401 }, true), false);
  assert.equal(refusalIsFinal({ status: 503 }, false), false);
});
