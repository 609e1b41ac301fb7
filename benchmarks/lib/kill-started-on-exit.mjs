// Preloaded into every suite by scripts/run-benchmarks.mjs (`node --import <this file>`): the
// processes a suite starts die with it, however it ends. See kill-started.mjs.
import { killStartedOnExit } from './kill-started.mjs';

killStartedOnExit();
