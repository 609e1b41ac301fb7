/**
 * Lua scripts of the Redis broker. Each runs atomically in Redis, so the offset a publication
 * gets, its place in the stream and its pub/sub fan-out can never disagree between nodes.
 *
 * Keys per channel (the `{…}` hash tag keeps them in one Redis Cluster slot):
 *   <prefix>{<channel>}:m  hash  e = epoch, o = latest offset
 *   <prefix>{<channel>}:s  stream of the channel's history, entry ID `<offset>-0`, fields f = frame, t = ms
 *   <prefix>{<channel>}:p  pub/sub channel, payload `<epoch> <offset> <frame>`
 *   <prefix>{<channel>}:i:<key>  string `<epoch> <offset>` of an idempotencyKey's publication, PX = window
 *   <prefix>{<channel>}:q:<publisher>  string: the publisher's last applied seq, PX = window
 *
 * The epoch lives next to the offset: when the hash is lost (Redis restarted without
 * persistence, flushed, or the key expired) the next script call starts a new epoch at offset 0
 * and drops any stream left behind, so an old (epoch, offset) can never match new history.
 */

/** Lua snippet: read or create the channel's epoch. KEYS[1] meta, KEYS[2] stream, `candidate` a fresh epoch. */
const EPOCH = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = candidate
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
end
`;

/**
 * KEYS: meta, stream, pubsub, idempotency key, publisher seq key. ARGV: channel as JSON, data as
 * JSON, candidate epoch, maxlen (already bounded by bytes), ttl ms (0 = none), now ms, meta ttl ms
 * (0 = none), idempotency window ms (0 = off), '1' when KEYS[4] is a real key, seq ('' = none).
 * Returns {epoch, offset, status}: `ok` (published), `dup` (the key's original position, nothing
 * published) or `stale` (offset = the publisher's last applied seq, nothing published). The
 * frame text is built here, in the byte order of encodeMessage(). Check, publish and record are
 * one atomic step, so two retries of one key racing on two nodes publish once.
 */
export const PUBLISH_SCRIPT = `
local window = tonumber(ARGV[8])
local seq = tonumber(ARGV[10])
if window > 0 and ARGV[9] == '1' then
  local prev = redis.call('GET', KEYS[4])
  if prev then
    local sp = string.find(prev, ' ', 1, true)
    return {string.sub(prev, 1, sp - 1), tonumber(string.sub(prev, sp + 1)), 'dup'}
  end
end
if window > 0 and seq then
  local last = tonumber(redis.call('GET', KEYS[5]) or '0')
  if seq <= last then return {'', last, 'stale'} end
end
local candidate = ARGV[3]
${EPOCH}
local maxlen = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local now = tonumber(ARGV[6])
local metaTtl = tonumber(ARGV[7])
local off = redis.call('HINCRBY', KEYS[1], 'o', 1)
local offText = string.format('%d', off)
local frame = '{"type":"message","channel":' .. ARGV[1] .. ',"epoch":"' .. epoch .. '","offset":' .. offText .. ',"data":' .. ARGV[2] .. '}'
if maxlen > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', maxlen, offText .. '-0', 'f', frame, 't', ARGV[6])
  if ttl > 0 then
    -- age bound: drop expired entries from the head, a few per publish (amortised), and let
    -- the whole stream expire when the channel goes quiet for longer than the ttl
    local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 8)
    local expired = {}
    for _, e in ipairs(head) do
      if tonumber(e[2][4]) < now - ttl then expired[#expired + 1] = e[1] else break end
    end
    if #expired > 0 then redis.call('XDEL', KEYS[2], unpack(expired)) end
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
else
  redis.call('DEL', KEYS[2])
end
if metaTtl > 0 then redis.call('PEXPIRE', KEYS[1], metaTtl) end
redis.call('PUBLISH', KEYS[3], epoch .. ' ' .. offText .. ' ' .. frame)
if window > 0 then
  if ARGV[9] == '1' then redis.call('SET', KEYS[4], epoch .. ' ' .. offText, 'PX', window) end
  if seq then redis.call('SET', KEYS[5], ARGV[10], 'PX', window) end
end
return {epoch, off, 'ok'}
`;

/**
 * KEYS: meta, stream. ARGV: candidate epoch, since epoch ('' = position only), since offset,
 * now ms, ttl ms, meta ttl ms.
 * Returns {epoch, offset, status, frame…}: status `ok` (frames = offsets since+1 … offset),
 * `epoch_changed`, `offset_ahead` or `history_gone`.
 */
export const READ_SCRIPT = `
local candidate = ARGV[1]
${EPOCH}
local metaTtl = tonumber(ARGV[6])
if metaTtl > 0 then redis.call('PEXPIRE', KEYS[1], metaTtl) end
local off = tonumber(redis.call('HGET', KEYS[1], 'o'))
if ARGV[2] == '' then return {epoch, off, 'ok'} end
if ARGV[2] ~= epoch then return {epoch, off, 'epoch_changed'} end
local since = tonumber(ARGV[3])
if since > off then return {epoch, off, 'offset_ahead'} end
if since == off then return {epoch, off, 'ok'} end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d-0', since + 1), '+')
if #entries == 0 or entries[1][1] ~= string.format('%d-0', since + 1) then return {epoch, off, 'history_gone'} end
local ttl = tonumber(ARGV[5])
if ttl > 0 and tonumber(entries[1][2][4]) < tonumber(ARGV[4]) - ttl then return {epoch, off, 'history_gone'} end
local out = {epoch, off, 'ok'}
for _, e in ipairs(entries) do out[#out + 1] = e[2][2] end
return out
`;

/**
 * The batched recovery read. KEYS: meta, stream. ARGV: candidate epoch, from offset (-1 = position
 * only), now ms, ttl ms, meta ttl ms. Returns {epoch, offset, first, frame…}: the frames of
 * offsets first…offset still in history and younger than ttl, where first ≥ from; first =
 * offset + 1 when there are none. Each requester's answer is cut from it (answerFrom()).
 */
export const READ_FROM_SCRIPT = `
local candidate = ARGV[1]
${EPOCH}
local metaTtl = tonumber(ARGV[5])
if metaTtl > 0 then redis.call('PEXPIRE', KEYS[1], metaTtl) end
local off = tonumber(redis.call('HGET', KEYS[1], 'o'))
local from = tonumber(ARGV[2])
if from < 0 or from > off then return {epoch, off, off + 1} end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d-0', from), '+')
local ttl = tonumber(ARGV[4])
local oldest = tonumber(ARGV[3]) - ttl
local out = {epoch, off, off + 1}
local expected = nil
for _, e in ipairs(entries) do
  local o = tonumber(string.match(e[1], '^(%d+)'))
  if ttl > 0 and tonumber(e[2][4]) < oldest then
    -- expired: what follows starts later
    out = {epoch, off, off + 1}
    expected = nil
  elseif expected ~= nil and o ~= expected then
    -- a hole in the stream (cannot happen with dense XADDs, but never hand one out)
    out = {epoch, off, o}
    out[#out + 1] = e[2][2]
    expected = o + 1
  else
    if expected == nil then out[3] = o end
    out[#out + 1] = e[2][2]
    expected = o + 1
  end
end
return out
`;
