import { startGateway, type GatewayProcess } from './scale-gateway.js';

/**
 * `floodgate serve` from source in its own process group (see scale-gateway.ts), waiting up to
 * `timeoutMs` for its startup block and then for a line matching `ready`.
 * Stop it with `stopServe`, which kills the group, workers included.
 */
export async function startServe(port: number, flags: string[], ready: RegExp, timeoutMs = 90_000): Promise<GatewayProcess> {
  const g = await startGateway(port, flags, {}, timeoutMs);
  try {
    await g.waitFor(ready, timeoutMs);
  } catch (err) {
    await g.stop('SIGKILL', 1000);
    throw err;
  }
  return g;
}

export async function stopServe(g: GatewayProcess): Promise<void> {
  await g.stop();
}
