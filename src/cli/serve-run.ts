import { IpcBroker } from '../broker/ipc-broker.js';
import { resolveSettings } from '../config/resolve.js';
import { SERVER_SETTINGS, type ServerSettings } from '../config/server-settings.js';
import { unknownEnvWarnings } from '../config/unknown-env.js';
import { createGateway, type Gateway, type GatewayOptions } from '../server/gateway.js';
import { readWorkerPlan, resolveWorkerCount, type WorkerPlan } from '../server/worker-plan.js';
import type { WorkerReady } from '../server/workers.js';
import { formatStartupReport } from '../admin/startup-report.js';
import { isWorkerCallMessage, WorkerCallClient } from '../server/worker-calls.js';
import { isHandoffMessage, WorkerHandoff } from '../server/worker-handoff.js';
import type { MachineCallOp } from '../admin/machine-calls.js';

export interface ServeInput {
  flags: Record<string, unknown>;
  file?: string;
}

/** `floodgate serve`: start, print the effective settings, stop cleanly on SIGTERM/SIGINT. */
export async function runServe(input: ServeInput): Promise<void> {
  // --workers N: this process becomes the primary and forks N workers, which run the code below
  const plan = readWorkerPlan();
  if (!plan) {
    const { values } = resolveSettings<ServerSettings>(SERVER_SETTINGS, { flags: input.flags, file: input.file, env: process.env });
    const count = resolveWorkerCount(values.workers);
    if (count > 1) {
      const { runPrimary } = await import('../server/workers.js');
      await runPrimary(values, count);
      return;
    }
  }
  const gateway = await createGateway(plan ? workerOptions(plan) : {}, {
    flags: input.flags, file: input.file, env: process.env,
    ...(plan?.ipcBroker ? { broker: new IpcBroker() } : {}),
    ...(plan?.balance === 'reuseport' ? { listen: { reusePort: true, exclusive: true } } : {}),
    ...(plan && plan.count > 1 ? { handoff: workerHandoff(plan) } : {}),
  });
  if (plan) {
    process.on('message', (m: unknown, handle: unknown) => {
      if (isHandoffMessage(m) && m.t === 'take' && handle) gateway.adopt(handle, m.tried);
    });
    serveMachineCalls(gateway, plan);
    announceWorker(gateway, plan);
  }
  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      gateway.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    gateway.log.info({ signal, connections: gateway.stats().connections.current }, 'shutting down');
    // the bound: exit even if something below hangs
    const timer = setTimeout(() => process.exit(1), gateway.settings.shutdownTimeout + 5000);
    timer.unref();
    gateway.close().then(() => process.exit(0), () => process.exit(1));
  };
  // handlers first: a supervisor may signal as soon as it reads the startup line
  process.on('SIGTERM', stop);
  // SIGHUP rereads the TLS certificate and key (they are also watched); without TLS it is ignored
  process.on('SIGHUP', () => gateway.tls?.reload('SIGHUP'));
  if (plan) {
    // the primary forwards SIGTERM; a terminal's Ctrl-C reaches the whole group and is left to it
    process.on('SIGINT', () => {});
    // a primary that dies without stopping us is handled by exitWithPrimary (src/server/worker-guard.ts)
  } else {
    process.on('SIGINT', stop);
  }
  if (plan && plan.index > 0) return; // one startup block is enough; the primary sums up the workers

  const report = gateway.startupReport();
  // the CLI reads the environment (an embedded gateway does not): say which FLOODGATE_* it ignored
  report.warnings.push(...unknownEnvWarnings(process.env, SERVER_SETTINGS));
  if (gateway.settings.logFormat === 'json') process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(formatStartupReport(report));
  for (const w of report.warnings) gateway.log.warn(w);
}

/** Connections accepted at this worker's cap go to the primary, which finds a worker with room. */
function workerHandoff(plan: WorkerPlan): WorkerHandoff {
  return new WorkerHandoff(
    plan.index,
    plan.count,
    (m, handle, written) => {
      process.send!(m, handle as never, {}, written);
    },
    () => process.connected === true,
  );
}

/** A worker's share of the machine-wide budgets, ranked as flags (docs/operations.md). */
function workerOptions(plan: WorkerPlan): GatewayOptions {
  // one process can hold healthPort: the first worker answers for the machine
  return {
    memoryLimit: plan.memoryLimit, maxConnections: plan.maxConnections, ...(plan.index > 0 ? { healthPort: 'off' } : {}),
    ...(plan.port !== undefined ? { port: plan.port } : {}),
  };
}

/**
 * GET /stats/machine, the dashboard, POST /api/disconnect and GET /api/channels cover every
 * worker, whichever one takes the request: one round trip through the primary (docs/operations.md).
 */
function serveMachineCalls(gateway: Gateway, plan: WorkerPlan): void {
  const client = new WorkerCallClient<MachineCallOp>(plan.index, (call) => gateway.admin.runLocal(call), (m) => process.send?.(m));
  process.on('message', (m: unknown) => {
    if (isWorkerCallMessage(m)) client.onMessage(m);
  });
  gateway.admin.useMachine((call, waitMs) => client.ask(call, waitMs));
}

function announceWorker(gateway: Gateway, plan: WorkerPlan): void {
  const m: WorkerReady = {
    fg: 'worker', t: 'ready', index: plan.index, pid: process.pid, port: gateway.port,
    cap: gateway.capacity.maxConnections, capExplanation: gateway.capacity.explanation, backlogEffective: gateway.backlogEffective,
    admin: gateway.admin.address ?? null,
  };
  process.send?.(m);
}
