import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { PortStatesReader, type PortStatesRead } from '../../src/system/port-states-reader.js';
import { ssFilter } from '../../src/system/socket-states.js';

const hasSs = spawnSync('ss', ['-V']).status === 0;
const withoutEstablished = (s: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'ESTABLISHED'));

/**
 * A server on `host` (port 0) whose 6 connections from 127.0.0.1 are left in four states on both
 * ends: 2 held (ESTABLISHED ×2 each), 2 half-closed by the client (FIN_WAIT2 at the client,
 * CLOSE_WAIT at the server), 2 closed client first (TIME_WAIT at the client).
 */
async function socketsInSeveralStates(host: string): Promise<{ port: number; close: () => void }> {
  const accepted: Socket[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    accepted.push(s);
  });
  await new Promise<void>((r, j) => { server.once('error', j); server.listen(0, host, 50, r); });
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  for (let i = 0; i < 6; i++) clients.push(connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  for (const c of clients) c.on('error', () => undefined);
  await Promise.all(clients.map((c) => new Promise((r) => c.once('connect', r))));
  while (accepted.length < 6) await new Promise((r) => setTimeout(r, 10));
  const byClientPort = new Map(accepted.map((s) => [s.remotePort, s]));
  const serverSide = (c: Socket): Socket => byClientPort.get(c.localPort)!;
  // half-close: the server reads the FIN and keeps its side open
  await Promise.all(clients.slice(2, 4).map((c) => { const s = serverSide(c); c.end(); return new Promise((r) => s.once('end', r)); }));
  // client closes first, then the server: the client's end waits in TIME_WAIT
  await Promise.all(clients.slice(4, 6).map((c) => {
    const s = serverSide(c);
    s.once('end', () => s.end());
    c.end();
    return new Promise((r) => c.once('close', r));
  }));
  return {
    port,
    close: () => {
      for (const c of clients) c.destroy();
      for (const s of accepted) s.destroy();
      server.close();
    },
  };
}

/** Reads both ways until they agree (a state may still be settling), a few times at most. */
async function readBoth(port: number, address: string, expect: (r: PortStatesRead) => boolean): Promise<{ diag: PortStatesRead; light: PortStatesRead; proc: PortStatesRead }> {
  const diagReader = new PortStatesReader(port, address, { via: 'sock_diag' });
  const procReader = new PortStatesReader(port, address, { via: 'proc' });
  try {
    let out: { diag: PortStatesRead; light: PortStatesRead; proc: PortStatesRead } | undefined;
    for (let i = 0; i < 20; i++) {
      out = { diag: await diagReader.read(true), light: await diagReader.read(false), proc: await procReader.read(false) };
      if (expect(out.proc) && isDeepStrictEqual(out.diag.counts.states, out.proc.counts.states)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return out!;
  } finally {
    await diagReader.close();
    await procReader.close();
  }
}

const settled = (r: PortStatesRead): boolean => r.counts.states.FIN_WAIT2 === 2 && r.counts.states.CLOSE_WAIT === 2 && r.counts.states.TIME_WAIT === 2;

test('sock_diag through the helper and /proc count the same states of a real server\'s sockets; a read without ESTABLISHED leaves only those out', { skip: hasSs ? false : 'ss (iproute2) not installed', timeout: 30_000 }, async () => {
  const lab = await socketsInSeveralStates('127.0.0.1');
  try {
    const { diag, light, proc } = await readBoth(lab.port, '127.0.0.1', settled);
    assert.equal(diag.via, 'sock_diag');
    assert.equal(proc.via, 'proc');
    assert.deepEqual(proc.counts.states, { LISTEN: 1, ESTABLISHED: 4, FIN_WAIT2: 2, CLOSE_WAIT: 2, TIME_WAIT: 2 });
    assert.deepEqual(diag.counts.states, proc.counts.states);
    assert.equal(diag.established, true);
    assert.equal(light.established, false);
    assert.deepEqual(light.counts.states, withoutEstablished(proc.counts.states));
    assert.equal(proc.established, true, '/proc always counts every state, asked or not');
    assert.equal(diag.counts.listenBacklog, 50, 'the listener\'s backlog (ss Send-Q)');
    assert.equal(proc.counts.listenBacklog, undefined, '/proc does not show it');
    for (const r of [diag, light, proc]) assert.ok(r.cpuMs >= 0);
  } finally {
    lab.close();
  }
});

test('a dual-stack server: an IPv4 target matches its IPv4-mapped sockets in the kernel\'s filter as in /proc', { skip: hasSs ? false : 'ss (iproute2) not installed', timeout: 30_000 }, async (t) => {
  let lab: Awaited<ReturnType<typeof socketsInSeveralStates>>;
  try {
    lab = await socketsInSeveralStates('::');
  } catch (err) {
    t.skip(`no IPv6 here: ${(err as Error).message}`);
    return;
  }
  try {
    const { diag, light, proc } = await readBoth(lab.port, '127.0.0.1', settled);
    assert.deepEqual(proc.counts.states, { LISTEN: 1, ESTABLISHED: 4, FIN_WAIT2: 2, CLOSE_WAIT: 2, TIME_WAIT: 2 });
    assert.deepEqual(diag.counts.states, proc.counts.states);
    assert.deepEqual(light.counts.states, withoutEstablished(proc.counts.states));
  } finally {
    lab.close();
  }
});

test('with `ss` missing, the helper reads nothing and the reader falls back to /proc', { timeout: 30_000 }, async () => {
  const lab = await socketsInSeveralStates('127.0.0.1');
  const path = process.env.PATH;
  // the helper is started on the first read, with this PATH: no `ss` on it
  process.env.PATH = '/nonexistent';
  const reader = new PortStatesReader(lab.port, '127.0.0.1', { via: 'sock_diag' });
  try {
    const r = await reader.read(false);
    process.env.PATH = path;
    assert.equal(r.via, 'proc');
    assert.equal(r.established, true);
    assert.equal(r.counts.states.LISTEN, 1);
    assert.equal(r.counts.states.ESTABLISHED, 4);
    assert.equal((await reader.read(true)).via, 'proc', 'and stays there');
  } finally {
    process.env.PATH = path;
    await reader.close();
    lab.close();
  }
});

test('ssFilter: by address and port (listeners by port), by port alone for a host name', () => {
  assert.equal(ssFilter(8080, '127.0.0.1'), '( src 127.0.0.1:8080 or dst 127.0.0.1:8080 or ( sport = :8080 and dport = :0 ) )');
  assert.equal(ssFilter(8080, '::1'), '( src [::1]:8080 or dst [::1]:8080 or ( sport = :8080 and dport = :0 ) )');
  assert.equal(ssFilter(8080, '[::1]'), '( src [::1]:8080 or dst [::1]:8080 or ( sport = :8080 and dport = :0 ) )');
  assert.equal(ssFilter(8080, 'localhost'), '( sport = :8080 or dport = :8080 )');
  assert.equal(ssFilter(8080), '( sport = :8080 or dport = :8080 )');
});
