import type { IncomingMessage, ServerResponse } from 'node:http';
import { FloodgateError, isFloodgateError, type ErrorCode } from '../errors.js';
import { CHANNEL_PATTERN, hasLoneSurrogate, type Json, type MessageFrame } from '../protocol/frames.js';
import { tokenMatches } from './dashboard-access.js';
import { sendJson } from '../server/send-json.js';
import type { ApiBackend } from './api-backend.js';
import { readBody } from './read-body.js';
import { exceedsDepth } from '../protocol/depth.js';
import { holdsNonFiniteNumber } from '../protocol/finite.js';
import { countRequest, endpointOf, newApiStats, type ApiStats } from './api-counters.js';

/** Channels one POST /api/broadcast may name: a bound on the work one request can ask for. */
export const MAX_BROADCAST_CHANNELS = 1000;
/** Bytes of publications one POST /api/broadcast keeps in flight at once (small bodies: every channel at once). */
export const BROADCAST_IN_FLIGHT = 16 * 1024 * 1024;
/** Longest `sub` POST /api/disconnect takes: any a connection token can carry (URL and headers hold 16 KiB). */
export const MAX_SUB_LENGTH = 16_384;
/** Longest idempotencyKey accepted. */
export const MAX_IDEMPOTENCY_KEY = 128;

export interface ServerApiOptions {
  apiKey: string;
  bodyLimit: number;
  /** The gateway's `maxDepth`: a body nests no deeper than a client's frame may (its own object is level 1). */
  maxDepth: number;
}

type Handler = (req: IncomingMessage, url: URL, backend: ApiBackend, limits: BodyLimits, counts: ApiStats) => Promise<{ status: number; body: unknown }>;

const STATUS: Partial<Record<ErrorCode, number>> = {
  FG_ERR_API_BAD_REQUEST: 400,
  FG_ERR_BAD_CHANNEL: 400,
  FG_ERR_API_BODY_TOO_LARGE: 413,
  FG_ERR_PUBLISH_TOO_LARGE: 413,
  FG_ERR_PUBLISH_FAILED: 503,
  // the broker's caps (maxChannels, maxIdempotencyKeys): nothing published, room comes back as entries expire
  FG_ERR_TOO_MANY_CHANNELS: 503,
  FG_ERR_TOO_MANY_IDEMPOTENCY_KEYS: 503,
  FG_ERR_RECOVERY_FAILED: 503,
  FG_ERR_STATS_UNAVAILABLE: 503,
  FG_ERR_PRESENCE_OFF: 404,
  FG_ERR_PRESENCE_UNAVAILABLE: 503,
};

interface BodyLimits {
  bodyLimit: number;
  maxDepth: number;
}

function bad(message: string): FloodgateError {
  return new FloodgateError('FG_ERR_API_BAD_REQUEST', message);
}

/**
 * The body as a JSON object, held to the rules of a client's frame (docs/protocol.md): nesting
 * within maxDepth, checked by a loop before anything recursive (JSON.stringify when publishing)
 * sees it, and no number too large for a double (it would reach subscribers as null).
 */
async function jsonBody(req: IncomingMessage, limits: BodyLimits): Promise<Record<string, unknown>> {
  const text = (await readBody(req, limits.bodyLimit)).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text); // iterative in V8: any depth parses
  } catch (err) {
    throw bad(`the body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad('the body must be a JSON object');
  if (exceedsDepth(text, limits.maxDepth)) {
    throw bad(`the body nests deeper than maxDepth ${limits.maxDepth} levels of arrays/objects (the body itself is level 1)`);
  }
  if (holdsNonFiniteNumber(text, parsed)) throw bad('a number in the body is too large for a double (e.g. 1e400): in `data` it would reach subscribers as null');
  return parsed as Record<string, unknown>;
}

function channelField(value: unknown, field: string): string {
  if (typeof value !== 'string') throw bad(`\`${field}\` must be a string, got ${value === undefined ? 'nothing' : typeof value}`);
  if (!CHANNEL_PATTERN.test(value)) {
    throw new FloodgateError('FG_ERR_BAD_CHANNEL', `\`${field}\` must be 1 to 128 characters of A-Z a-z 0-9 _ - : . @ /, got ${JSON.stringify(value.slice(0, 140))}`);
  }
  return value;
}

function dataField(body: Record<string, unknown>): Json {
  if (!('data' in body)) throw bad('`data` is missing (any JSON value, null included)');
  return body.data as Json;
}

function idempotencyKeyField(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IDEMPOTENCY_KEY) {
    throw bad(`\`idempotencyKey\` must be a string of 1 to ${MAX_IDEMPOTENCY_KEY} characters`);
  }
  if (hasLoneSurrogate(value)) throw bad('`idempotencyKey` holds a lone surrogate (\\ud800–\\udfff without its pair): not text, and not kept apart from other such keys by every broker');
  return value;
}

const publish: Handler = async (req, _url, backend, limits, counts) => {
  const body = await jsonBody(req, limits);
  const channel = channelField(body.channel, 'channel');
  const data = dataField(body);
  const idempotencyKey = idempotencyKeyField(body.idempotencyKey);
  // a retry with the same key within idempotencyWindow answers the first publication's position
  const pos = await backend.broker.publish(channel, data, idempotencyKey === undefined ? undefined : { idempotencyKey });
  if (pos.duplicate) counts.duplicatePublishes++;
  else counts.publications++;
  return { status: 200, body: { channel, epoch: pos.epoch, offset: pos.offset, ...(pos.duplicate ? { duplicate: true } : {}) } };
};

const broadcast: Handler = async (req, _url, backend, limits, counts) => {
  const body = await jsonBody(req, limits);
  if (!Array.isArray(body.channels) || body.channels.length === 0 || body.channels.length > MAX_BROADCAST_CHANNELS) {
    throw bad(`\`channels\` must be a list of 1 to ${MAX_BROADCAST_CHANNELS} channel names`);
  }
  const channels = body.channels.map((c, i) => channelField(c, `channels[${i}]`));
  if (new Set(channels).size !== channels.length) throw bad('`channels` names a channel twice');
  const data = dataField(body);
  // each channel has its own sequence: one publish per channel, every outcome reported. Each
  // publish encodes its own frame: at most BROADCAST_IN_FLIGHT bytes of them at once, so one 1 MB
  // body to 1000 channels is not 1 GB of frames (or of Redis commands) at the same moment
  const size = Buffer.byteLength(JSON.stringify(data));
  const window = Math.max(1, Math.min(channels.length, Math.floor(BROADCAST_IN_FLIGHT / Math.max(1, size))));
  type Outcome = { channel: string; epoch: string; offset: number } | { channel: string; code: string; message: string };
  const results: Outcome[] = new Array(channels.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < channels.length) {
      const i = next++;
      const channel = channels[i]!;
      results[i] = await backend.broker.publish(channel, data).then(
        (pos) => ({ channel, epoch: pos.epoch, offset: pos.offset }),
        (err: unknown) => ({ channel, code: isFloodgateError(err) ? err.code : 'FG_ERR_PUBLISH_FAILED', message: (err as Error).message }),
      );
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const failed = results.filter((r) => 'code' in r).length;
  counts.publications += results.length - failed;
  counts.broadcastFailures += failed;
  return { status: 200, body: { published: results.length - failed, failed, results } };
};

const disconnect: Handler = async (req, _url, backend, limits) => {
  const body = await jsonBody(req, limits);
  // as long as a token's sub can be: tokens arrive in a URL or header of at most 16 KiB
  if (typeof body.sub !== 'string' || body.sub.length === 0 || body.sub.length > MAX_SUB_LENGTH) {
    throw bad(`\`sub\` must be a string of 1 to ${MAX_SUB_LENGTH} characters (the token claim \`sub\`)`);
  }
  const result = await backend.disconnect(body.sub);
  return { status: 200, body: { sub: body.sub, ...result } };
};

const channels: Handler = async (_req, _url, backend) => {
  const rows = await backend.channels();
  rows.sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
  return { status: 200, body: { channels: rows } };
};

const history: Handler = async (_req, url, backend) => {
  const channel = channelField(url.searchParams.get('channel') ?? undefined, 'channel');
  const sinceText = url.searchParams.get('since');
  let since = 0;
  if (sinceText !== null) {
    // decimal digits only: Number() would also take 0x10, 1e1 and blanks around them
    since = /^[0-9]{1,16}$/.test(sinceText) ? Number(sinceText) : -1;
    if (!Number.isSafeInteger(since) || since < 0) throw bad(`\`since\` must be an offset (an integer from 0 up), got ${JSON.stringify(sinceText)}`);
  }
  let epoch = url.searchParams.get('epoch') ?? undefined;
  if (epoch === undefined) epoch = (await backend.broker.recover(channel)).epoch;
  const answer = await backend.broker.recover(channel, { epoch, offset: since });
  if (!answer.ok) {
    if (answer.reason === 'unavailable') throw new FloodgateError('FG_ERR_RECOVERY_FAILED', `history of ${channel} is unavailable: the broker is down`);
    return { status: 200, body: { channel, epoch: answer.epoch, offset: answer.offset, complete: false, reason: answer.reason, publications: [] } };
  }
  const publications = answer.publications.map((p) => {
    // the broker keeps each publication as its encoded `message` frame (built once, sent to all)
    const frame = JSON.parse(p.frame.toString('utf8')) as MessageFrame;
    return { offset: p.offset, data: frame.data };
  });
  return { status: 200, body: { channel, epoch: answer.epoch, offset: answer.offset, complete: true, publications } };
};

const presence: Handler = async (_req, url, backend) => {
  const channel = channelField(url.searchParams.get('channel') ?? undefined, 'channel');
  return { status: 200, body: { channel, ...(await backend.presence(channel)) } };
};

const ROUTES: Record<string, { method: 'GET' | 'POST'; handler: Handler }> = {
  '/api/publish': { method: 'POST', handler: publish },
  '/api/broadcast': { method: 'POST', handler: broadcast },
  '/api/disconnect': { method: 'POST', handler: disconnect },
  '/api/channels': { method: 'GET', handler: channels },
  '/api/history': { method: 'GET', handler: history },
  '/api/presence': { method: 'GET', handler: presence },
};

/** Answers an error and says which code it carried (the outcome counted). */
function sendError(res: ServerResponse, err: unknown): ErrorCode {
  const code: ErrorCode = isFloodgateError(err) ? err.code : 'FG_ERR_INTERNAL';
  if (res.headersSent) {
    res.destroy();
    return code;
  }
  if (isFloodgateError(err)) {
    const status = STATUS[err.code] ?? 500;
    // a body we stopped reading: close, so the rest of it is not parsed as the next request
    if (err.code === 'FG_ERR_API_BODY_TOO_LARGE') res.setHeader('connection', 'close');
    sendJson(res, status, { code: err.code, message: err.message });
    return code;
  }
  sendJson(res, 500, { code: 'FG_ERR_INTERNAL', message: (err as Error).message });
  return code;
}

/**
 * The server API for backends (docs/api.md): publish, broadcast, disconnect, channels, history, presence.
 * Every request carries `X-API-Key`; without an apiKey setting the API answers 404 FG_ERR_API_OFF.
 */
export class ServerApi {
  backend: ApiBackend;
  private readonly options: ServerApiOptions;
  /** Counted here, on the admin side, not on the data path's hot counters. */
  private readonly counts: ApiStats = newApiStats();

  constructor(options: ServerApiOptions, backend: ApiBackend) {
    this.options = options;
    this.backend = backend;
  }

  /** A copy of the counters: requests by endpoint and outcome, publications made through the API. */
  stats(): ApiStats {
    return structuredClone(this.counts);
  }

  handle(req: IncomingMessage, res: ServerResponse, path: string): void {
    const endpoint = endpointOf(path);
    const refuse = (status: number, code: ErrorCode, message: string): void => {
      countRequest(this.counts, endpoint, code);
      sendJson(res, status, { code, message });
    };
    if (this.options.apiKey === '') {
      refuse(404, 'FG_ERR_API_OFF', 'the server API is off: start the gateway with --api-key (docs/api.md)');
      return;
    }
    const key = req.headers['x-api-key'];
    if (!tokenMatches(this.options.apiKey, typeof key === 'string' ? key : undefined)) {
      res.setHeader('www-authenticate', 'X-API-Key');
      refuse(401, 'FG_ERR_API_KEY', key === undefined ? 'the request has no X-API-Key header' : 'wrong X-API-Key');
      return;
    }
    const route = ROUTES[path];
    if (!route) {
      refuse(404, 'FG_ERR_NOT_FOUND', `no API route ${path}; routes: ${Object.keys(ROUTES).join(', ')}`);
      return;
    }
    if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('allow', route.method);
      refuse(405, 'FG_ERR_API_METHOD', `${path} takes ${route.method}, not ${req.method}`);
      return;
    }
    const url = new URL(req.url ?? path, 'http://api.invalid');
    route.handler(req, url, this.backend, this.options, this.counts).then(
      ({ status, body }) => {
        countRequest(this.counts, endpoint, 'ok');
        sendJson(res, status, body);
      },
      (err: unknown) => countRequest(this.counts, endpoint, sendError(res, err)),
    );
  }
}
