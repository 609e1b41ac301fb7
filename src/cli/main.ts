#!/usr/bin/env node
// first: a `serve --workers` worker exits with its primary at any stage of startup
import './worker-guard.js';
// then: stop V8's young generation from growing during start-up (the gateway applies its setting later)
import './young-generation-start.js';
import { Command } from 'commander';
import { isFloodgateError } from '../errors.js';

const program = new Command();
program
  .name('floodgate')
  .description('WebSocket gateway, load generator and OS tooling for connection floods.')
  .version(process.env.npm_package_version ?? '0.1.0')
  // Usage errors (unknown option, missing argument) exit 2, as bad values and pre-flight refusals do:
  // 1 is kept for "the run found a problem" (bench failures, doctor causes) so CI can tell them apart.
  // Inherited by the subcommands registered below.
  .exitOverride((err) => {
    // help and --version keep commander's own code (0, or 1 for help shown after a bare `floodgate`)
    process.exit(err.exitCode === 0 || err.code === 'commander.help' ? err.exitCode : 2);
  });

// One register function per subcommand, each in its own file. A run of one known command
// registers only that one: `serve`'s options come from the settings table, whose validators
// (zod) cost `floodgate bench` ~20 MB of idle RSS on Node 24 for nothing. With no command, help
// or an unknown word, every command is registered (for the list and "did you mean").
const OS_COMMANDS = new Set(['doctor', 'tune', 'watch', 'plan']);
const typed = process.argv.slice(2).find((a) => !a.startsWith('-'));
const registerBench = async (): Promise<void> => (await import('./bench.js')).registerBench(program);
const registerOsCommands = async (): Promise<void> => (await import('./os-commands.js')).registerOsCommands(program);
if (typed === 'bench') await registerBench();
else if (typed !== undefined && OS_COMMANDS.has(typed)) await registerOsCommands();
else {
  (await import('./serve.js')).registerServe(program);
  await registerOsCommands();
  await registerBench();
}
// Options after a subcommand go to it (`bench compare a b --json` is compare's, not bench's). Set after
// registering: subcommands copy this setting when created, and only `bench` (which has a subcommand) needs it.
program.enablePositionalOptions();
showUsageAfterErrors(program);

/**
 * A usage error (unknown flag, missing argument) prints commander's one line, then the usage line
 * of the command that was typed and where its full help is, not every option of every command.
 */
function showUsageAfterErrors(cmd: Command): void {
  const path: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c.name());
  cmd.showHelpAfterError(`Usage: ${path.join(' ')} ${cmd.usage()}\nRun '${path.join(' ')} --help' for every option.`);
  for (const sub of cmd.commands) showUsageAfterErrors(sub);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isFloodgateError(err)) {
    process.stderr.write(`floodgate: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`floodgate: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  process.exitCode = process.exitCode || 2;
});
