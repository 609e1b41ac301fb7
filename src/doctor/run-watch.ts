import { FloodgateError } from '../errors.js';
import { countOpenFds } from '../system/process-usage.js';
import { durationFlag, intFlag, ratioFlag } from './parse-input.js';
import { renderTick, WatchSampler, type WatchOptions } from './watch-sampler.js';

export type WatchCliOptions = Record<string, string | boolean | undefined>;

/** Runs the watch loop until `--count` ticks or SIGINT; one JSON line per tick with --json. */
export async function runWatch(opts: WatchCliOptions, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const o: WatchOptions = {
    port: opts.port === undefined ? undefined : intFlag('--port', opts.port, 1, 65535),
    pid: opts.pid === undefined ? undefined : intFlag('--pid', opts.pid, 1, 4_194_304),
    warnAt: ratioFlag('--warn-at', opts.warnAt ?? '70%'),
    alarmAt: ratioFlag('--alarm-at', opts.alarmAt ?? '90%'),
  };
  const interval = durationFlag('--interval', opts.interval ?? '1s', 50, 3_600_000);
  const count = opts.count === undefined ? Number.POSITIVE_INFINITY : intFlag('--count', opts.count, 1, 1_000_000_000);
  // as `doctor --pid` does: a pid that is not there (or not ours to read) stops here, not with empty ticks
  if (o.pid !== undefined && countOpenFds(o.pid) === undefined) {
    throw new FloodgateError('FG_ERR_INVALID_CONFIG', `\`--pid\` ${o.pid} is not a process this user can inspect (no /proc/${o.pid}/fd).`, { pid: o.pid });
  }
  const tty = !opts.json && (out as NodeJS.WriteStream).isTTY === true;
  const sampler = new WatchSampler(o);
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  try {
    for (let i = 0; i < count && !stopped; i++) {
      // the first tick waits one interval too, so its deltas cover a full period
      await new Promise((r) => setTimeout(r, interval));
      if (stopped) break;
      const t = sampler.tick();
      if (opts.json) out.write(`${JSON.stringify(t)}\n`);
      else out.write(`${tty ? '\x1b[H\x1b[2J' : i > 0 ? '\n' : ''}${renderTick(t, o, interval)}\n`);
      if (t.process && !t.process.alive) {
        // nothing left to watch: say so and stop (exit 1), instead of printing "(gone)" forever
        process.stderr.write(`floodgate watch: process ${t.process.pid} is gone (exited or killed) at ${t.time}; stopping.\n`);
        process.exitCode = 1;
        break;
      }
    }
  } finally {
    process.removeListener('SIGINT', stop);
  }
}
