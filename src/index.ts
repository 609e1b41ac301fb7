// The public API. Re-exports only.
export { FloodgateError, ErrorCodes, isFloodgateError, type ErrorCode } from './errors.js';
export { createGateway, Gateway, type GatewayOptions, type GatewaySources } from './server/gateway.js';
export type { GatewayStats } from './server/stats.js';
export type { StartupReport } from './server/startup-report.js';
export { createToken, verifyToken, type TokenClaims } from './server/auth.js';
export { computeCapacity, type Capacity, type CapacityInputs } from './server/capacity.js';
export { SERVER_SETTINGS, MEASURED_BYTES_PER_CONNECTION, type ServerSettings } from './config/server-settings.js';
export { resolveSettings } from './config/resolve.js';
export type { Broker, Publication, RecoverAnswer, BrokerStats } from './broker/broker.js';
export { MemoryBroker } from './broker/memory-broker.js';
export { CloseCode, closeCodeName } from './protocol/close-codes.js';
export type * from './protocol/frames.js';
export { run, run as bench, BenchRun, compareResults, renderComparison, renderComparisonReport, renderSummary, renderReport, loadScenario, checkThresholds, parseThreshold } from './loadgen/index.js';
export type { BenchOptions, BenchResult, Stage, SeriesPoint, LatencySummary, PlanSummary, ThresholdResult } from './loadgen/index.js';
export { diagnoseRun, renderDiagnosis, type Diagnosis, type Cause, type CauseId } from './doctor/diagnose-run.js';
export { EvidenceRecorder } from './doctor/evidence-recorder.js';
export type { RunEvidence } from './doctor/run-evidence.js';
export { planCapacity, instanceCapacity, type Plan, type PlanInputs, type InstanceCapacity, type InstanceInputs } from './doctor/capacity-plan.js';
