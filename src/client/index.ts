/** `floodgate/client`: the browser + Node client SDK. See docs/client.md. */
export { Client } from './client.js';
export type { ClientEvents, ClientState, ClientStats, ConnectedEvent, DisconnectedEvent, PublishOptions, PublishResult, RecoveryEvent } from './client.js';
export { Subscription } from './subscription.js';
export type { PresenceResult } from './presence-requests.js';
export type { GapEvent, JoinLeaveEvent, MessageEvent, SubscribedEvent, SubscriptionEvents, SubscriptionState, SubscriptionStats } from './subscription.js';
export { CLIENT_DEFAULTS, resolveClientOptions } from './options.js';
export type { ClientOptions, ResolvedClientOptions, WebSocketLike } from './options.js';
export { backoffBase, backoffBounds, chooseDelay, parseRetryAfter } from './backoff.js';
export type { BackoffOptions, ChosenDelay, DelayReason, JitterMode } from './backoff.js';
export { CircuitBreaker } from './circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitState, CircuitTransition } from './circuit-breaker.js';
export { FloodgateError, isFloodgateError } from '../errors.js';
export type { ErrorCode } from '../errors.js';
export { CloseCode } from '../protocol/close-codes.js';
export type { Json, PresenceSub, RecoverPosition, RecoveryFailure } from '../protocol/frames.js';
