// Imported first by main.ts, so a `serve --workers` worker watches its primary before the rest of
// the CLI (and the gateway) has even loaded: see src/server/worker-guard.ts.
import { exitWithPrimary } from '../server/worker-guard.js';

exitWithPrimary();
