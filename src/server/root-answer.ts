/**
 * `GET /` without an upgrade (a browser, curl) stays a 426 `{code, message}` refusal; its message
 * says where things are: the WebSocket endpoint, the HTTP endpoints, and the dashboard or why it is off. */
export function rootMessage(port: number, dashboard: { enabled: boolean; note: string }): string {
  return `Floodgate gateway: connect a WebSocket client to this URL (ws://…:${port}/, docs/protocol.md). Also served here: /healthz, /stats, /stats/machine, /metrics; dashboard ${dashboard.enabled ? 'at /dashboard' : dashboard.note}.`;
}
