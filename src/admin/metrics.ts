import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdminStats } from './admin-stats.js';

/**
 * Prometheus view of the stats snapshot. Every metric reads the snapshot taken once per scrape;
 * nothing is counted twice on the hot path. Counters are set from the gateway's own monotonic
 * counters (reset + inc), which keeps them monotonic for Prometheus.
 */
export function createMetrics(snapshot: () => AdminStats): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'floodgate_' });
  let current: AdminStats | undefined;
  const read = (): AdminStats => (current ??= snapshot());
  // a scrape calls each collect in turn: take one snapshot per scrape
  const snap = new Gauge({
    name: 'floodgate_up', help: '1 while the gateway accepts connections, 0 while it shuts down.', registers: [registry],
    collect() {
      current = snapshot();
      this.set(current.shuttingDown ? 0 : 1);
    },
  });
  void snap;
  const gauge = (name: string, help: string, get: (s: AdminStats) => number | undefined, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect() { const v = get(read()); if (v !== undefined) this.set(v); } });
  const counter = (name: string, help: string, get: (s: AdminStats) => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(get(read())); } });

  gauge('floodgate_connections', 'Open WebSocket connections.', (s) => s.connections.current);
  gauge('floodgate_connections_peak', 'Highest number of open connections since start.', (s) => s.connections.peak);
  gauge('floodgate_connection_cap', 'Connection cap (min of explicit, memory- and fd-derived).', (s) => s.connections.cap);
  gauge('floodgate_handshakes_in_flight', 'Upgrades admitted and being handshaken.', (s) => s.connections.handshaking);
  gauge('floodgate_admission_waiting', 'Upgrades waiting in the admission queue.', (s) => s.connections.waiting);
  gauge('floodgate_accept_queue', 'Accepted connections waiting for the HTTP parser (user-space accept queue).', (s) => s.connections.accepting);
  gauge('floodgate_listen_backlog', 'Effective listen backlog (min of requested and somaxconn).', (s) => s.listener.backlogEffective);
  gauge('floodgate_channels', 'Channels with at least one local subscriber.', (s) => s.channels.local);
  gauge('floodgate_subscriptions', 'Local subscriptions.', (s) => s.channels.subscriptions);
  gauge('floodgate_history_messages', 'Messages kept in channel history.', (s) => s.broker.historyMessages);
  gauge('floodgate_history_bytes', 'Bytes kept in channel history.', (s) => s.broker.historyBytes);
  gauge('floodgate_broker_up', '1 when the broker is reachable.', (s) => (s.broker.healthy ? 1 : 0));
  gauge('floodgate_memory_limit_bytes', 'Memory limit used for the cap.', (s) => s.memory.limit);
  gauge('floodgate_open_fds', 'Open file descriptors of this process.', (s) => s.fds.open);
  gauge('floodgate_fd_limit', 'Hard fd limit of this process.', (s) => s.fds.limit);

  counter('floodgate_connections_admitted_total', 'Upgrades admitted.', (s) => s.admission.admitted);
  counter('floodgate_connections_admitted_after_wait_total', 'Upgrades admitted after waiting in the queue.', (s) => s.admission.admittedAfterWait);
  const rejected = new Counter({
    name: 'floodgate_connections_rejected_total', help: 'Upgrades refused, by reason.', labelNames: ['reason'], registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(read().admission.rejected)) this.inc({ reason }, n);
    },
  });
  void rejected;
  const closed = new Counter({
    name: 'floodgate_connections_closed_total', help: 'Connections closed by the server, by reason.', labelNames: ['reason'], registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(read().closed)) this.inc({ reason }, n);
    },
  });
  void closed;
  counter('floodgate_handshake_failures_total', 'Admitted upgrades whose handshake failed.', (s) => s.admission.handshakeFailures);
  counter('floodgate_handshake_timeouts_total', 'Connections closed for not completing the upgrade in time.', (s) => s.admission.handshakeTimeouts);
  counter('floodgate_connections_handed_off_total', 'serve --workers: connections accepted at a worker\'s cap and passed to another worker instead of refused.', (s) => s.admission.handedOff);
  counter('floodgate_messages_received_total', 'Frames received from clients.', (s) => s.messages.in);
  counter('floodgate_messages_sent_total', 'Frames sent to clients.', (s) => s.messages.out);
  counter('floodgate_publication_writes_total', 'Socket writes that carried publication frames (a socket\'s first frame in a turn of the event loop is written at once, the rest of that turn\'s frames in one more write).', (s) => s.messages.publicationWrites);
  counter('floodgate_publications_total', 'Publications accepted.', (s) => s.messages.publications);
  counter('floodgate_publish_failures_total', 'Publishes answered with an error (refused, out of order or outcome unknown).', (s) => s.messages.publishFailures);
  counter('floodgate_duplicate_publishes_total', 'Publishes answered from the idempotency window (retries; nothing published again).', (s) => s.messages.duplicatePublishes);
  counter('floodgate_rate_limited_messages_total', 'Inbound frames dropped by the rate limit.', (s) => s.messages.rateLimited);
  counter('floodgate_bad_frames_total', 'Malformed inbound frames.', (s) => s.messages.badFrames);
  counter('floodgate_internal_errors_total', 'Exceptions caught while handling one inbound frame (a server bug).', (s) => s.messages.internalErrors);
  counter('floodgate_replay_requests_total', 'Subscribes that asked to recover.', (s) => s.messages.replayRequests);
  counter('floodgate_replayed_messages_total', 'Messages replayed from history.', (s) => s.messages.replayedMessages);
  counter('floodgate_recovery_failures_total', 'Recoveries answered recovered:false.', (s) => s.messages.recoveryFailures);
  const apiRequests = new Counter({
    name: 'floodgate_api_requests_total', help: 'Server API requests answered, by endpoint and outcome (`ok` or the FG_ERR_* code).', labelNames: ['endpoint', 'outcome'], registers: [registry],
    collect() {
      this.reset();
      for (const [endpoint, outcomes] of Object.entries(read().api.requests)) {
        for (const [outcome, n] of Object.entries(outcomes)) this.inc({ endpoint, outcome }, n);
      }
    },
  });
  void apiRequests;
  counter('floodgate_api_publications_total', 'Publications made through the server API (a broadcast counts one per channel).', (s) => s.api.publications);
  counter('floodgate_api_duplicate_publishes_total', 'Server API publishes answered from the idempotency window (nothing published again).', (s) => s.api.duplicatePublishes);
  counter('floodgate_api_broadcast_failures_total', 'Channels of a server API broadcast whose publish failed.', (s) => s.api.broadcastFailures);
  counter('floodgate_presence_requests_total', '`presence` frames answered from the broker.', (s) => s.messages.presenceRequests);
  counter('floodgate_presence_failures_total', '`presence` frames the broker could not answer (FG_ERR_PRESENCE_UNAVAILABLE).', (s) => s.messages.presenceFailures);
  const wrap = registry.metrics.bind(registry);
  registry.metrics = async () => {
    current = undefined;
    try {
      return await wrap();
    } finally {
      current = undefined;
    }
  };
  return registry;
}
