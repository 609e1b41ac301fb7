import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { checkListener, judgeListener } from '../../src/doctor/check-listener.js';
import { startWithFirstLine, stopChild } from './helpers/netns.js';

const faultServer = fileURLToPath(new URL('../fixtures/doctor/fault-server.mjs', import.meta.url));
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) await stopChild(c);
});

test('a listener whose loop is blocked: backlog from ss, queue depth at the backlog, fds of the pid', async () => {
  const { child, line } = await startWithFirstLine([process.execPath, faultServer, JSON.stringify({ backlog: 8, blockOnFirstMs: 60_000 })]);
  children.push(child);
  const { port, pid } = JSON.parse(line) as { port: number; pid: number };
  const sockets: Socket[] = [];
  for (let i = 0; i < 12; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    sockets.push(s);
  }
  try {
    // wait (bounded, generously) for the kernel to complete the handshakes into the accept queue
    let byPort = checkListener({ port });
    for (let i = 0; i < 600 && byPort.listeners[0]?.acceptQueue !== 9; i++) {
      await new Promise((r) => setTimeout(r, 50));
      byPort = checkListener({ port });
    }
    assert.equal(byPort.listeners.length, 1);
    assert.equal(byPort.listeners[0].backlog, 8);
    assert.equal(byPort.listeners[0].acceptQueue, 9, 'Linux admits backlog + 1 before the queue counts as full');
    assert.equal(byPort.findings[0].severity, 'error');
    assert.match(byPort.findings[0].title, /effective backlog of 8; 9 connections wait for accept\(\) now/);
    assert.equal(byPort.fds?.pid, pid, '--port alone finds the owning process');
    const byPid = checkListener({ pid });
    assert.deepEqual(byPid.listeners.map((l) => l.port), [port]);
    assert.ok(byPid.fds && byPid.fds.open > 0 && byPid.fds.hard !== undefined);
    assert.equal(byPid.findings.find((f) => f.id === 'listener.fds')?.severity, 'ok');
  } finally {
    for (const s of sockets) s.destroy();
    await stopChild(child);
  }
});

test('fd usage against the hard limit: 70% warns, 90% alarms; nothing listening is an error', () => {
  const facts = (open: number) => ({ listeners: [{ address: '::', port: 1, acceptQueue: 0, backlog: 4096 }], somaxconn: 4096, fds: { open, hard: 1000, soft: 1000 } });
  const level = (open: number) => judgeListener({ pid: 1 }, [1], facts(open)).find((f) => f.id === 'listener.fds')!.severity;
  assert.equal(level(690), 'ok');
  assert.equal(level(700), 'warn');
  assert.equal(level(900), 'error');
  assert.equal(judgeListener({ port: 9 }, [9], { listeners: [] })[0].id, 'listener.missing');
});

test('a small backlog gets a fix in the server\'s terms; a backlog equal to somaxconn is flagged as likely capped', () => {
  const small = { listeners: [{ address: '0.0.0.0', port: 80, acceptQueue: 0, backlog: 128 }], somaxconn: 4096 };
  const other = judgeListener({ port: 80 }, [80], small).find((f) => f.id === 'listener.backlog')!;
  assert.equal(other.severity, 'warn');
  assert.equal(other.fix, 'have the server listen with a larger backlog (Node: server.listen({ port, backlog: 4096 }); nginx: listen … backlog=4096) and restart: bursts over 128 are dropped and retried after 1 s');
  const gw = judgeListener({ port: 80 }, [80], { ...small, floodgate: true }).find((f) => f.id === 'listener.backlog')!;
  assert.match(gw.fix!, /^listen with a larger backlog \(FLOODGATE_BACKLOG=4096\)/);
  const capped = judgeListener({ port: 80 }, [80], { listeners: [{ address: '0.0.0.0', port: 80, acceptQueue: 0, backlog: 4096 }], somaxconn: 4096 });
  assert.deepEqual(capped.map((f) => [f.id, f.severity]), [['listener.backlog', 'ok'], ['listener.capped', 'warn']]);
  assert.match(capped[1].title, /backlog equals net\.core\.somaxconn \(4,096\): it was probably capped .* the requested value cannot be read back/);
});
