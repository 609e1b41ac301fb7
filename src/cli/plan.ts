import type { Command } from 'commander';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('Capacity planning: connections per instance from memory and fds, instances needed, headroom.')
    .requiredOption('--users <n>', 'total users')
    .option('--active <ratio>', 'share of users connected at once, e.g. 5% or 0.05', '5%')
    .option('--peak-factor <x>', 'multiplier for the busiest moment', '1')
    .option('--headroom <ratio>', 'spare capacity wanted on top of the peak, e.g. 20%', '0%')
    .option('--memory <sizes>', 'memory per instance; a comma list compares sizes, e.g. 512MB,2GB', '512MB')
    .option('--overhead <size>', 'memory per instance kept for the runtime before connections (default 64MB, as floodgate serve\'s --memory-overhead)')
    .option('--bytes-per-connection <size>', 'memory one connection costs (default: Floodgate\'s measured figure)')
    .option('--fd-limit <n>', 'hard RLIMIT_NOFILE of one instance (default: this machine\'s)')
    .option('--reserved-fds <n>', 'fds kept for logs, broker, DNS', '64')
    .option('--json', 'print JSON instead of text')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { runPlan } = await import('../doctor/run-plan.js');
      process.stdout.write(`${runPlan(opts).output}\n`);
    });
}
