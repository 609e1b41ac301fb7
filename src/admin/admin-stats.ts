import type { GatewayStats } from '../server/stats.js';
import type { ApiStats } from './api-counters.js';

/**
 * What GET /stats answers and /metrics reads: the gateway's own snapshot (the data path's
 * counters) with the operator side's counters beside it, taken at the same moment.
 */
export interface AdminStats extends GatewayStats {
  /** The server API (docs/api.md): requests by endpoint and outcome, publications made through it. */
  api: ApiStats;
}
