import type { Command } from 'commander';

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('Live view, refreshed every second: TCP states, kernel drop counters, fd/RSS of a process against its limits.')
    .option('--port <port>', 'count only sockets to or from this port')
    .option('--pid <pid>', 'show this process\'s fds and RSS against its limits')
    .option('--interval <duration>', 'time between ticks', '1s')
    .option('--count <n>', 'stop after this many ticks (default: until Ctrl-C)')
    .option('--warn-at <percent>', 'warn when fds or RSS pass this share of the limit', '70%')
    .option('--alarm-at <percent>', 'alarm when they pass this share', '90%')
    .option('--json', 'one JSON line per tick')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { runWatch } = await import('../doctor/run-watch.js');
      await runWatch(opts);
    });
}
