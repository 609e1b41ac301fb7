import cluster, { type Worker } from 'node:cluster';
import { MemoryBroker } from '../broker/memory-broker.js';
import { ChannelNamespaces } from '../auth/namespaces.js';
import { IpcBrokerHost } from '../broker/ipc-broker-host.js';
import type { ServerSettings } from '../config/server-settings.js';
import { readMemoryLimit } from '../system/limits.js';
import { createLogger } from './logger.js';
import { isWorkerCallMessage, WorkerCallHost } from './worker-calls.js';
import { HandoffRelay, isHandoffMessage } from './worker-handoff.js';
import { chooseBalance, splitCapacity, WORKER_PLAN_ENV, type WorkerPlan } from './worker-plan.js';

/** What a worker reports to the primary once it listens. */
export interface WorkerReady {
  fg: 'worker';
  t: 'ready';
  index: number;
  pid: number;
  port: number;
  cap: number;
  capExplanation: string;
  backlogEffective: number;
  /** The admin listener the workers share (adminPort), or null when admin paths are on the public port. */
  admin: { host: string; port: number } | null;
}

export function isWorkerReady(m: unknown): m is WorkerReady {
  return typeof m === 'object' && m !== null && (m as WorkerReady).fg === 'worker' && (m as WorkerReady).t === 'ready';
}

/** Crashes in this window before the primary stops replacing workers and exits. */
const CRASH_WINDOW_MS = 30_000;
const MAX_CRASHES = 5;

/**
 * The primary of `floodgate serve --workers N`: forks N workers that serve one port, splits the
 * machine's connection budget across them, holds the shared memory broker when there is no
 * Redis, replaces a worker that crashes, and on SIGTERM/SIGINT stops them all gracefully.
 */
export async function runPrimary(settings: Readonly<ServerSettings>, count: number): Promise<void> {
  const log = createLogger(settings.logFormat, settings.logLevel);
  const { balance, note } = chooseBalance(settings.workerBalance);
  // must be set before the first fork; `shared` = every worker accepts on one socket
  cluster.schedulingPolicy = balance === 'round-robin' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  const memory = settings.memoryLimit > 0 ? settings.memoryLimit : readMemoryLimit().bytes;
  const shares = splitCapacity({ workers: count, memoryLimit: memory, maxConnections: settings.maxConnections });
  const ipcBroker = settings.broker === 'memory';
  const host = ipcBroker
    ? new IpcBrokerHost(new MemoryBroker(new ChannelNamespaces(settings).historyFor, settings.idempotencyWindow, { historyMemory: settings.historyMemory, maxChannels: settings.maxChannels, maxIdempotencyKeys: settings.maxIdempotencyKeys }))
    : undefined;
  await host?.start();

  const byIndex = new Map<number, Worker>();
  // machine-wide calls (GET /stats/machine, POST /api/disconnect, GET /api/channels) relayed to every worker
  const calls = new WorkerCallHost(
    (index, m) => {
      const w = byIndex.get(index);
      if (w?.isConnected()) w.send(m);
    },
    () => [...byIndex.entries()].filter(([, w]) => w.isConnected()).map(([i]) => i),
    count,
  );
  // a connection a full worker accepted goes to the next worker not yet tried (worker-handoff.ts)
  const relay = new HandoffRelay(() => [...byIndex.entries()].map(([index, w]) => ({
    index,
    connected: w.isConnected() && ready.has(index),
    send: (m, handle, written) => {
      w.send(m, handle as never, written);
    },
  })));
  const ready = new Map<number, WorkerReady>();
  const crashes: number[] = [];
  let stopping = false;
  let announced = false;

  // reuseport binds one socket per worker: with port 0 the first worker picks the port and the
  // others are started on it once it listens (else each would listen on a free port of its own)
  const portFirst = balance === 'reuseport' && settings.port === 0;
  let fixedPort: number | undefined;
  const fork = (index: number): void => {
    const plan: WorkerPlan = { index, count, balance, ...shares[index], ipcBroker, ...(fixedPort !== undefined ? { port: fixedPort } : {}) };
    const worker = cluster.fork({ [WORKER_PLAN_ENV]: JSON.stringify(plan) });
    byIndex.set(index, worker);
    worker.on('message', (m: unknown, handle: unknown) => {
      if (isHandoffMessage(m)) {
        relay.relay(m, handle as Parameters<HandoffRelay['relay']>[1]);
        return;
      }
      if (isWorkerReady(m)) {
        ready.set(index, m);
        if (portFirst && fixedPort === undefined) {
          fixedPort = m.port;
          for (let i = 1; i < count; i++) fork(i);
        }
        if (!announced && ready.size === count) {
          announced = true;
          announce();
        }
        return;
      }
      if (isWorkerCallMessage(m)) {
        calls.onMessage(index, m);
        return;
      }
      host?.onMessage(worker, m);
    });
    // A message or a connection handed to a worker that is exiting fails with EPIPE on the IPC
    // channel; unheard, that 'error' took the primary (and so every worker) down in the
    // 100,000-connection soak. The 'exit' below replaces the worker.
    worker.on('error', (err: Error) => {
      log.warn({ worker: index, pid: worker.process.pid, err: err.message }, 'IPC to a worker failed (it is exiting?)');
    });
    worker.on('exit', (code, signal) => {
      if (host) host.removeWorker(worker);
      ready.delete(index);
      if (byIndex.get(index) === worker) byIndex.delete(index);
      if (stopping) return;
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && crashes[0] < now - CRASH_WINDOW_MS) crashes.shift();
      if (crashes.length > MAX_CRASHES) {
        log.fatal({ crashes: crashes.length, windowMs: CRASH_WINDOW_MS }, 'workers keep crashing; stopping');
        void stop('SIGTERM', 1);
        return;
      }
      log.error({ worker: index, pid: worker.process.pid, code, signal }, 'worker exited unexpectedly; starting a replacement in 1 s');
      // not unref'd: when every worker is gone this timer is all that keeps the primary alive
      // (with unref() the primary exited 0 instead of replacing them)
      setTimeout(() => {
        if (!stopping) fork(index);
      }, 1000);
    });
  };

  const announce = (): void => {
    const list = [...ready.values()].sort((a, b) => a.index - b.index);
    const total = list.reduce((sum, w) => sum + w.cap, 0);
    const info = {
      workers: count, balance: note, port: list[0].port, admin: list[0].admin, pids: list.map((w) => w.pid),
      capPerWorker: list.map((w) => w.cap), capTotal: total, broker: ipcBroker ? 'memory in the primary, shared over IPC' : settings.broker,
    };
    if (settings.logFormat === 'json') {
      process.stdout.write(`${JSON.stringify({ workers: info })}\n`);
    } else {
      process.stdout.write(
        `\nworkers      ${count} processes on port ${info.port} (${note})\n` +
          `cap          ${total} connections on this machine = ${list.map((w) => w.cap).join(' + ')}\n` +
          `             per worker: ${list[0].capExplanation}\n` +
          `broker       ${info.broker}\n` +
          `admin        ${info.admin ? `${info.admin.host}:${info.admin.port}, shared by the workers` : 'on the public port'}\n`,
      );
    }
  };

  const stop = async (signal: NodeJS.Signals, exitCode = 0): Promise<void> => {
    if (stopping) {
      log.warn({ signal }, 'second signal: killing workers now');
      for (const w of byIndex.values()) w.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, workers: byIndex.size }, 'shutting down workers');
    const timer = setTimeout(() => {
      for (const w of byIndex.values()) w.process.kill('SIGKILL');
      process.exit(1);
    }, settings.shutdownTimeout + 5000);
    timer.unref();
    const exits = [...byIndex.values()].map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
    for (const w of byIndex.values()) w.process.kill('SIGTERM');
    await Promise.all(exits);
    await host?.close();
    log.info({}, 'all workers stopped');
    log.flush?.();
    process.exit(exitCode);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // certificate reload: every worker rereads its TLS files (the primary serves no connections)
  process.on('SIGHUP', () => {
    for (const w of byIndex.values()) w.process.kill('SIGHUP');
  });
  process.on('SIGINT', () => void stop('SIGINT'));

  for (let i = 0; i < (portFirst ? 1 : count); i++) fork(i);
}
