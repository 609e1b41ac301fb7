import type { Command } from 'commander';

export function registerTune(program: Command): void {
  program
    .command('tune')
    .description('Print a reversible kernel tuning script for a target; --apply runs it (root), --revert undoes it.')
    .option('--target-connections <n>', 'concurrent connections to plan for')
    .option('--target-rate <rate>', 'new connections per second to one destination, e.g. 2000/s')
    .option('--backlog <n>', 'listen backlog the server will ask for', '4096')
    .option('--apply', 'apply now (sysctl -w) and persist (needs root); records current values first')
    .option('--revert', 'restore the recorded values and remove the persistent file (needs root)')
    .option('--sysctl-conf <file>', 'persistent file', '/etc/sysctl.d/99-floodgate.conf')
    .option('--state-file <file>', 'where the values before --apply are recorded', '/var/lib/floodgate/sysctl-before.conf')
    .option('--json', 'print the planned changes as JSON')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { runTune } = await import('../doctor/run-tune.js');
      process.stdout.write(runTune(opts));
    });
}
