import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseSoftnetStat, readKernelCounters } from '../../src/system/kernel-counters.js';

test('softnet_stat: dropped and time_squeeze summed over the CPUs, from hex columns', { timeout: 10_000 }, () => {
  // two CPUs as kernel 6.x prints them (15 columns); dropped 0x57d + 0x1bdd, time_squeeze 3 + 0x10
  const text = [
    '00fb75db 0000057d 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000',
    '00de8390 00001bdd 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000001',
    '',
  ].join('\n');
  assert.deepEqual(parseSoftnetStat(text), { 'Softnet.Dropped': 0x57d + 0x1bdd, 'Softnet.TimeSqueeze': 3 + 0x10 });
  assert.deepEqual(parseSoftnetStat(''), {}, 'no file, no counters (not zeros that would read as "nothing dropped")');
  assert.deepEqual(parseSoftnetStat('garbage here\n'), {});
});

test('this machine: the input-queue counters come with the TCP counters and match the file', { timeout: 10_000, skip: !existsSync('/proc/net/softnet_stat') && 'no /proc/net/softnet_stat here' }, () => {
  const c = readKernelCounters();
  assert.ok(Number.isSafeInteger(c['Softnet.Dropped']) && c['Softnet.Dropped'] >= 0);
  assert.ok('TcpExt.ListenOverflows' in c);
  const cpus = readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n');
  const again = cpus.reduce((s, l) => s + Number.parseInt(l.trim().split(/\s+/)[1], 16), 0);
  assert.ok(again >= c['Softnet.Dropped'], 'a counter only grows');
});
