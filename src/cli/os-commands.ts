import type { Command } from 'commander';
import { registerDoctor } from './doctor.js';
import { registerPlan } from './plan.js';
import { registerTune } from './tune.js';
import { registerWatch } from './watch.js';

/** The OS-side subcommands: doctor, tune, watch, plan. */
export function registerOsCommands(program: Command): void {
  registerDoctor(program);
  registerTune(program);
  registerWatch(program);
  registerPlan(program);
}
