import { pino, type Logger } from 'pino';

/**
 * pino everywhere; with `logFormat: pretty` each JSON line is turned into one short human line
 * in-process (no transport thread), since operators read these on a terminal.
 */
export function createLogger(format: 'pretty' | 'json', level: string, stream: NodeJS.WritableStream = process.stderr): Logger {
  if (format === 'json') return pino({ level, base: { pid: process.pid } }, stream);
  const pretty = {
    write(line: string): void {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const { level: lv, time, msg, pid: _pid, hostname: _h, ...rest } = o;
        const name = pino.levels.labels[lv as number] ?? String(lv);
        const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        stream.write(`${new Date(time as number).toISOString().slice(11, 23)} ${name.toUpperCase().padEnd(5)} ${msg ?? ''}${extra ? ` ${extra}` : ''}\n`);
      } catch {
        stream.write(line);
      }
    },
  };
  return pino({ level }, pretty);
}
