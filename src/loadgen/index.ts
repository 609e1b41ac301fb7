export { run, BenchRun } from './run.js';
export { compareResults, compareWarnings, renderComparison, readResult } from './compare.js';
export { renderComparisonReport } from './compare-html.js';
export { renderSummary } from './summary.js';
export { renderReport } from './report-html.js';
export { loadScenario } from './scenario.js';
export { checkThresholds, parseThreshold } from './thresholds.js';
export type { BenchOptions, BenchResult, Stage, SeriesPoint, LatencySummary, PlanSummary, ThresholdResult, PaceSummary, RunSettings } from './types.js';
