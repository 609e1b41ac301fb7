import type { Command } from 'commander';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('Read the OS limits that decide connection capacity, judge them against targets, check a listener, or diagnose a bench run.')
    .option('--target-connections <n>', 'concurrent connections the server must hold')
    .option('--target-rate <rate>', 'new connections per second to one destination, e.g. 2000/s')
    .option('--backlog <n>', 'listen backlog the server will request, or max (default max = net.core.somaxconn, as floodgate serve)')
    .option('--port <port>', 'check the listener on this port: effective backlog, accept-queue depth')
    .option('--pid <pid>', 'check this process: its fd limits and usage, and the ports it listens on')
    .option('--run <file>', 'diagnose a `floodgate bench --json` result (its `evidence` field)')
    .option('--bytes-per-connection <size>', 'memory one connection costs (default: Floodgate\'s measured figure)')
    .option('--memory-overhead <size>', 'memory kept for the runtime before connections are counted (default 64MB, as floodgate serve)')
    .option('--reserved-fds <n>', 'fds kept for logs, broker, DNS', '64')
    .option('--source-ips <n>', 'source IPs clients spread over (for the port arithmetic)', '1')
    .option('--warn-at <percent>', 'warn when a queue or fd count passes this share of its limit', '70%')
    .option('--alarm-at <percent>', 'alarm when it passes this share', '90%')
    .option('--json', 'print JSON instead of text')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { runDoctor } = await import('../doctor/run-doctor.js');
      const { output, exitCode } = runDoctor(opts);
      process.stdout.write(`${output}\n`);
      process.exitCode = exitCode;
    });
}
