/**
 * The `broker` setting's Redis URL, checked once at start: `redis://[user:password@]host[:port][/db]`
 * (or `rediss://`). ioredis would otherwise take `redis://h/abc` and send `SELECT NaN`, whose
 * refusal surfaced as an uncaught error after the start; and the URL parser's TypeError named no setting.
 */
export const BROKER_URL_FORM = '`memory` or a `redis://[user:password@]host[:port][/db]` URL (`rediss://` for TLS; db a number from 0 up)';

/** What is wrong with a Redis broker URL, or undefined when it is usable. */
export function brokerUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return `scheme ${url.protocol} (expected redis: or rediss:)`;
  if (url.hostname === '') return 'no host';
  if (url.port !== '' && Number(url.port) < 1) return `port ${url.port} (expected 1 to 65535)`;
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,9}$/.test(url.pathname)) return `database ${url.pathname.slice(1)} (expected a number from 0 up)`;
  return undefined;
}

/** The URL with its password hidden, for messages. */
export function redactBrokerUrl(text: string): string {
  return text.replace(/\/\/[^@/]*@/, '//…@');
}
