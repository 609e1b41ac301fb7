// A small connection probe that fills a RunEvidence from real sockets and kernel files, standing in
// for `floodgate bench` in the doctor's tests (bounded: fixed attempts, per-attempt timeout).
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { FailureBucket, FailurePhase, RunEvidence } from '../../../src/doctor/run-evidence.js';
import { EvidenceRecorder } from '../../../src/doctor/evidence-recorder.js';
import { readFdLimits } from '../../../src/system/limits.js';
import { countOpenFds } from '../../../src/system/process-usage.js';

export interface ProbeOptions {
  host: string;
  port: number;
  attempts: number;
  /** Attempts in flight at once. */
  concurrency: number;
  /** Per attempt, connect + upgrade answer. */
  timeoutMs: number;
  /** upgrade: send a WebSocket upgrade and wait for the status; connect-close: connect, then close first (TIME_WAIT stays here). */
  mode: 'upgrade' | 'connect-close';
  /** Keep successful sockets open until every attempt has finished. */
  hold: boolean;
  localAddress?: string;
  serverPid?: number;
}

export async function probe(o: ProbeOptions): Promise<RunEvidence> {
  const recorder = new EvidenceRecorder({ url: `ws://${o.host}:${o.port}/`, host: o.host, port: o.port, local: true, serverPid: o.serverPid });
  recorder.start();
  // read before the run: a generator out of fds cannot open /proc files any more
  const fdLimit = readFdLimits().hard;
  let ownPeakFds = 0;
  const sample = (): void => {
    recorder.sample();
    ownPeakFds = Math.max(ownPeakFds, countOpenFds('self') ?? 0);
  };
  const sampler = setInterval(sample, 25);
  sample();

  const buckets = new Map<string, FailureBucket>();
  const fail = (phase: FailurePhase, detail: string, example: string, retryAfter?: number): void => {
    const kind = `${phase}.${detail}` as const;
    const side = /EADDRNOTAVAIL|EADDRINUSE|EMFILE|ENFILE/.test(detail) ? 'generator' : 'server';
    const b = buckets.get(kind) ?? { kind, phase, side, count: 0, example };
    b.count++;
    if (retryAfter !== undefined) (b.retryAfter ??= []).includes(retryAfter) || b.retryAfter.push(retryAfter);
    buckets.set(kind, b);
  };
  const latencies: number[] = [];
  const held: Socket[] = [];
  let successes = 0;

  const attempt = (): Promise<void> =>
    new Promise((resolve) => {
      const start = performance.now();
      let connected = false;
      let done = false;
      let answer = '';
      let socket: Socket;
      const finish = (ok: boolean, keep = false): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (ok) successes++;
        if (keep) held.push(socket);
        else if (o.mode === 'connect-close' && ok) socket.end();
        else socket.destroy();
        resolve();
      };
      const timer = setTimeout(() => {
        if (connected) fail('upgrade', 'timeout', `no answer in ${o.timeoutMs} ms`);
        else fail('connect', 'ETIMEDOUT', `no SYN-ACK in ${o.timeoutMs} ms`);
        finish(false);
      }, o.timeoutMs);
      try {
        socket = connect({ host: o.host, port: o.port, localAddress: o.localAddress });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        fail('connect', code, (err as Error).message);
        clearTimeout(timer);
        done = true;
        resolve();
        return;
      }
      socket.on('connect', () => {
        connected = true;
        latencies.push(performance.now() - start);
        if (o.mode === 'connect-close') {
          finish(true);
          return;
        }
        socket.write(
          `GET / HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      socket.on('data', (chunk) => {
        answer += chunk.toString('latin1');
        const end = answer.indexOf('\r\n\r\n');
        if (end < 0 || done) return;
        const status = Number(answer.slice(9, 12));
        if (status === 101) {
          finish(true, o.hold);
          return;
        }
        const ra = answer.match(/\r\nRetry-After:\s*(\d+)/i);
        fail('upgrade', `status_${status}`, answer.split('\r\n')[0], ra ? Number(ra[1]) : undefined);
        finish(false);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (done) return;
        fail(connected ? 'upgrade' : 'connect', err.code ?? 'error', err.message);
        finish(false);
      });
      socket.on('close', () => {
        if (done) return;
        fail('upgrade', 'closed', 'closed by the server before any answer');
        finish(false);
      });
    });

  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < o.attempts) {
      next++;
      await attempt();
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.attempts) }, lane));
  sample();
  clearInterval(sampler);
  // release held sockets first so the closing reads of /proc work even when the run used every fd
  for (const s of held) s.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]);
  const evidence = recorder.finish({
    attempts: o.attempts,
    successes,
    failures: [...buckets.values()],
    generator: { processes: 1, fdLimitPerProcess: fdLimit, peakFdsPerProcess: ownPeakFds, sourceIps: [o.localAddress ?? o.host] },
    connectLatencyMs: { p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? 0, atOrAboveOneSecond: latencies.filter((l) => l >= 1000).length },
  });
  return evidence;
}
