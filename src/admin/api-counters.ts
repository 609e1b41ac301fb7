/** The server API's routes as counted; `other` is any path under /api/ that is not one of them. */
export const API_ENDPOINTS = ['publish', 'broadcast', 'disconnect', 'channels', 'history', 'other'] as const;
export type ApiEndpoint = (typeof API_ENDPOINTS)[number];

/** What `/stats` (section `api`) and `/metrics` (`floodgate_api_*`) say about the server API. */
export interface ApiStats {
  /**
   * Requests answered, by endpoint and outcome: `ok`, or the `FG_ERR_*` code of the error answer
   * (docs/errors.md), so the label set stays bounded by the error catalogue.
   */
  requests: Record<ApiEndpoint, Record<string, number>>;
  /** Publications made through the API: one per publish, one per channel a broadcast published to. */
  publications: number;
  /** Publishes answered from the idempotency window (`duplicate: true`; nothing published again). */
  duplicatePublishes: number;
  /** Channels of a broadcast whose publish failed (the request itself answered 200 with `failed`). */
  broadcastFailures: number;
}

export function newApiStats(): ApiStats {
  const requests = {} as ApiStats['requests'];
  for (const e of API_ENDPOINTS) requests[e] = {};
  return { requests, publications: 0, duplicatePublishes: 0, broadcastFailures: 0 };
}

export function endpointOf(path: string): ApiEndpoint {
  const name = path.startsWith('/api/') ? path.slice(5) : '';
  return (API_ENDPOINTS as readonly string[]).includes(name) && name !== 'other' ? (name as ApiEndpoint) : 'other';
}

export function countRequest(stats: ApiStats, endpoint: ApiEndpoint, outcome: string): void {
  const row = stats.requests[endpoint];
  row[outcome] = (row[outcome] ?? 0) + 1;
}
