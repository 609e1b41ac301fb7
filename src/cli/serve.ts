import type { Command } from 'commander';
import { SERVER_SETTINGS } from '../config/server-settings.js';
import { addSettingOptions, pickSettingFlags } from './options.js';

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('Run the WebSocket pub/sub gateway.')
    .option('-c, --config <file>', 'config file, JSON or YAML (.yaml/.yml) (flags > env FLOODGATE_* > file > defaults)');
  addSettingOptions(cmd, SERVER_SETTINGS);
  cmd.action(async (opts: Record<string, unknown>) => {
    const { runServe } = await import('./serve-run.js');
    await runServe({ flags: pickSettingFlags(opts, SERVER_SETTINGS), file: opts.config as string | undefined });
  });
}
