import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LINUX_SYSCTL_NAMES, parseLinuxSysctls, readLinuxSysctls } from '../../src/system/sysctl-set.js';
import { macSysctlsFromValues, macTimeWaitSeconds, MAC_SYSCTL_NAMES, parseMacSysctlValues, readMacSysctls } from '../../src/system/macos-sysctl.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

test('Linux: parses recorded /proc/sys values, ranges and triples', () => {
  const raw = JSON.parse(fixture('linux-sysctl-defaults.json')) as Record<string, string>;
  const s = parseLinuxSysctls((n) => raw[n]);
  assert.equal(s.somaxconn, 4096);
  assert.deepEqual(s.ipLocalPortRange, [32768, 60999]);
  assert.deepEqual(s.tcpMem, [287898, 383867, 575796]);
  assert.equal(s.tcpTwReuse, 2);
  assert.equal(s.nfConntrackMax, undefined, 'absent file → undefined, not 0');
});

test('Linux: reads every listed sysctl of this machine that exists', () => {
  const s = readLinuxSysctls();
  for (const [field, name] of Object.entries(LINUX_SYSCTL_NAMES)) {
    let exists = true;
    try {
      readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`);
    } catch {
      exists = false;
    }
    assert.equal((s as Record<string, unknown>)[field] !== undefined, exists, name);
  }
});

test('macOS: parses recorded `sysctl -n` output (defaults → TIME_WAIT 30 s, 16,384 ports)', () => {
  const names = Object.values(MAC_SYSCTL_NAMES);
  const s = macSysctlsFromValues(parseMacSysctlValues(names, fixture('macos/sysctl-n-defaults.txt')));
  assert.deepEqual(s, { somaxconn: 128, tcpMslMs: 15000, portRangeFirst: 49152, portRangeLast: 65535, maxFiles: 122880, maxFilesPerProc: 61440 });
  assert.equal(macTimeWaitSeconds(s), 30);
  const tuned = macSysctlsFromValues(parseMacSysctlValues(names, fixture('macos/sysctl-n-tuned.txt')));
  assert.equal(macTimeWaitSeconds(tuned), 2);
});

test('macOS: a short answer (unknown oid) falls back to one call per name', () => {
  const values = fixture('macos/sysctl-n-defaults.txt').trim().split('\n');
  const names = Object.values(MAC_SYSCTL_NAMES);
  const calls: string[][] = [];
  const s = readMacSysctls((asked) => {
    calls.push([...asked]);
    if (asked.length > 1) throw new Error('sysctl: unknown oid');
    const i = names.indexOf(asked[0]);
    if (asked[0] === 'kern.maxfiles') throw new Error('sysctl: unknown oid');
    return `${values[i]}\n`;
  });
  assert.equal(calls.length, 1 + names.length);
  assert.equal(s.maxFiles, undefined);
  assert.equal(s.somaxconn, 128);
});
