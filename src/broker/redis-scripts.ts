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
 * Keys shared by every channel (no hash tag: see "Redis Cluster" in docs/operations.md):
 *   <prefix>budget:lru    zset  channel → order of its last use (publish, or a subscribe / recovery
 *                          read): one more than the highest score, so uses in the same ms (or on
 *                          nodes whose clocks differ) keep the order Redis ran them in
 *   <prefix>budget:exp    zset  channel → when its stream expires (last publish + historyTtl), ms
 *   <prefix>budget:bytes  hash  channel → exact bytes in its stream
 *   <prefix>budget:total  string: the sum of budget:bytes
 *   <prefix>budget:guard  zset  idempotency / publisher-seq key → its expiry (Redis clock), ms
 *
 * The epoch lives next to the offset: when the hash is lost (Redis restarted without
 * persistence, flushed, or the key expired) the next script call starts a new epoch at offset 0
 * and drops any stream left behind, so an old (epoch, offset) can never match new history.
 */

/**
 * Lua snippet after EPOCH in the reads: how long the hash outlives this read. A channel nothing
 * was published to yet (offset 0: created by a subscribe) keeps it only `empty` ms (0 = no
 * expiry), so subscribes to ever new names cannot fill Redis; nodes that watch such a channel
 * keep it alive (TOUCH_EMPTY_SCRIPT). Otherwise the meta ttl (0 = none).
 */
const KEEP_META = (metaArg: string, emptyArg: string): string => `
if redis.call('HGET', KEYS[1], 'o') == '0' then
  if tonumber(${emptyArg}) > 0 then redis.call('PEXPIRE', KEYS[1], tonumber(${emptyArg})) end
elseif tonumber(${metaArg}) > 0 then redis.call('PEXPIRE', KEYS[1], tonumber(${metaArg})) end
`;

/** Lua snippet: the lru score of a use now (KEYS[i] the lru zset). */
const NEXT_USE = `
local function nextUse(z)
  local top = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
  return (tonumber(top[2]) or 0) + 1
end
`;

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
 * KEYS: meta, stream, pubsub, idempotency key, publisher seq key, and the budget keys shared by
 * every channel (lru, bytes, total, exp, guard). ARGV: channel as JSON, data as JSON, candidate
 * epoch, maxlen (already bounded by bytes), ttl ms (0 = none), now ms, meta ttl ms (0 = none),
 * idempotency window ms (0 = off), '1' when KEYS[4] is a real key, seq ('' = none),
 * historyMemory bytes (0 = none), maxChannels (0 = none), the channel's name, the key prefix,
 * maxIdempotencyKeys (0 = none), the meta ttl given to a channel evicted while it had none.
 * Returns {epoch, offset, status, history bytes over all channels, channels evicted}: status `ok`
 * (published), `dup` (the key's original position, nothing published), `stale` (offset = the
 * publisher's last applied seq, nothing published), `too_many` (maxChannels, nothing published)
 * or `guard_full` (offset = the idempotency entries held; maxIdempotencyKeys, nothing published).
 *
 * The budget (historyMemory, maxChannels) counts the channels that hold a stream: `lru` orders
 * them by last use (a recovery read counts, READ_FROM_SCRIPT), `bytes` holds each stream's exact
 * bytes (this script trims the stream itself, so it knows what it drops), `exp` when each stream
 * expires on its own (its PEXPIRE, by the channel's own historyTtl). Over historyMemory the least
 * recently used streams are deleted; their channels keep epoch and offset, so a recovery into them
 * answers `history_gone`. A stream past its expiry is forgotten by the next publishes, a few each.
 *
 * maxIdempotencyKeys bounds the idempotency keys and publisher seqs held within the window over
 * all channels: `guard` lists each with its expiry, so the count is exact (expired ones leave it
 * at the next publishes that would add one). A publish that would add one past the cap is refused
 * before anything is written; one without a key or seq, a duplicate and a known publisher's next
 * seq are never refused by it.
 *
 * The shared keys, and the streams of other channels deleted for the budget, make the script
 * reach keys outside the channel's slot: a single Redis (with replicas) allows it, Redis Cluster
 * does not (docs/operations.md). The frame text is built here, in the byte order of
 * encodeMessage(). Check, publish and record are one atomic step, so two retries of one key
 * racing on two nodes publish once.
 */
export const PUBLISH_SCRIPT = `${NEXT_USE}
local window = tonumber(ARGV[8])
local seq = tonumber(ARGV[10])
local guardCap = tonumber(ARGV[15])
-- idempotency entries this publish would add (a new key, a publisher not seen within the window)
local adds = 0
if window > 0 and ARGV[9] == '1' then
  local prev = redis.call('GET', KEYS[4])
  if prev then
    local sp = string.find(prev, ' ', 1, true)
    return {string.sub(prev, 1, sp - 1), tonumber(string.sub(prev, sp + 1)), 'dup', 0, 0}
  end
  adds = adds + 1
end
if window > 0 and seq then
  local lastText = redis.call('GET', KEYS[5])
  local last = tonumber(lastText or '0')
  if seq <= last then return {'', last, 'stale', 0, 0} end
  if not lastText then adds = adds + 1 end
end
local guardNow = 0
if window > 0 and guardCap > 0 and (ARGV[9] == '1' or seq) then
  -- the Redis clock, the one PX counts with: the guard's expiries are those of the keys
  local t = redis.call('TIME')
  guardNow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if adds > 0 then
    -- entries past their window leave the count, a bounded number per publish: each is removed
    -- once, and a publish adds at most two
    local gone = redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', guardNow, 'LIMIT', 0, 128)
    if #gone > 0 then redis.call('ZREM', KEYS[10], unpack(gone)) end
    local held = redis.call('ZCARD', KEYS[10])
    if held + adds > guardCap then return {'', held, 'guard_full', 0, 0} end
  end
end
local maxlen = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local now = tonumber(ARGV[6])
local metaTtl = tonumber(ARGV[7])
local hmem = tonumber(ARGV[11])
local maxch = tonumber(ARGV[12])
local name = ARGV[13]
local budgeted = maxlen > 0 and (hmem > 0 or maxch > 0)
-- forgets a channel's stream in the budget (its bytes leave the total)
local function forget(c)
  local b = tonumber(redis.call('HGET', KEYS[7], c) or '0')
  redis.call('HDEL', KEYS[7], c)
  redis.call('ZREM', KEYS[6], c)
  redis.call('ZREM', KEYS[9], c)
  if b ~= 0 then redis.call('DECRBY', KEYS[8], b) end
end
if budgeted then
  -- streams past their own expiry (each channel's historyTtl, set as PEXPIRE below): a few per
  -- publish, amortised. One still there (node clocks differ) is rescheduled by its PTTL.
  for _, c in ipairs(redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', now, 'LIMIT', 0, 16)) do
    local left = redis.call('PTTL', ARGV[14] .. '{' .. c .. '}:s')
    if left > 0 then redis.call('ZADD', KEYS[9], now + left, c) else forget(c) end
  end
  if maxch > 0 and not redis.call('ZSCORE', KEYS[6], name) and redis.call('ZCARD', KEYS[6]) >= maxch then
    return {'', 0, 'too_many', tonumber(redis.call('GET', KEYS[8]) or '0'), 0}
  end
end
local candidate = ARGV[3]
${EPOCH}
local off = redis.call('HINCRBY', KEYS[1], 'o', 1)
local offText = string.format('%d', off)
local frame = '{"type":"message","channel":' .. ARGV[1] .. ',"epoch":"' .. epoch .. '","offset":' .. offText .. ',"data":' .. ARGV[2] .. '}'
local total = 0
local evicted = 0
if maxlen > 0 and budgeted then
  -- the stream's exact bytes: the script drops entries itself so it knows their sizes
  local held = 0
  if redis.call('EXISTS', KEYS[2]) == 1 then held = tonumber(redis.call('HGET', KEYS[7], name) or '0') else forget(name) end
  redis.call('XADD', KEYS[2], offText .. '-0', 'f', frame, 't', ARGV[6])
  held = held + #frame
  local drop = {}
  local over = redis.call('XLEN', KEYS[2]) - maxlen
  local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', math.max(over, 0) + 8)
  for i, e in ipairs(head) do
    if i <= over or (ttl > 0 and tonumber(e[2][4]) < now - ttl and e[1] ~= offText .. '-0') then
      drop[#drop + 1] = e[1]
      held = held - #e[2][2]
    else break end
  end
  if #drop > 0 then redis.call('XDEL', KEYS[2], unpack(drop)) end
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[2], ttl)
    redis.call('ZADD', KEYS[9], now + ttl, name)
  else
    redis.call('ZREM', KEYS[9], name)
  end
  -- a stream from before the budget was on was never counted: its older entries were not either
  if held < #frame then held = #frame end
  local before = tonumber(redis.call('HGET', KEYS[7], name) or '0')
  redis.call('HSET', KEYS[7], name, held)
  redis.call('ZADD', KEYS[6], nextUse(KEYS[6]), name)
  total = redis.call('INCRBY', KEYS[8], held - before)
  if hmem > 0 then
    -- at most 64 streams per publish: Redis runs nothing else meanwhile (a budget lowered at a
    -- restart is caught up over the next publishes)
    while total > hmem and evicted < 64 do
      local oldest = redis.call('ZRANGE', KEYS[6], 0, 0)[1]
      if not oldest or oldest == name then break end
      redis.call('DEL', ARGV[14] .. '{' .. oldest .. '}:s')
      -- its history is gone: an epoch kept forever (historyTtl 0) now only says history_gone
      -- rather than epoch_changed, so it gets the meta ttl of other channels (publishes to ever
      -- new channels must not leave hashes behind for good)
      local om = ARGV[14] .. '{' .. oldest .. '}:m'
      if tonumber(ARGV[16]) > 0 and redis.call('PTTL', om) == -1 then redis.call('PEXPIRE', om, ARGV[16]) end
      forget(oldest)
      evicted = evicted + 1
      total = tonumber(redis.call('GET', KEYS[8]) or '0')
    end
  end
elseif maxlen > 0 then
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
-- the hash may carry the short expiry of a channel created by a subscribe: published now, it lives long
if metaTtl > 0 then redis.call('PEXPIRE', KEYS[1], metaTtl) else redis.call('PERSIST', KEYS[1]) end
redis.call('PUBLISH', KEYS[3], epoch .. ' ' .. offText .. ' ' .. frame)
if window > 0 then
  if ARGV[9] == '1' then
    redis.call('SET', KEYS[4], epoch .. ' ' .. offText, 'PX', window)
    if guardCap > 0 then redis.call('ZADD', KEYS[10], guardNow + window, KEYS[4]) end
  end
  if seq then
    redis.call('SET', KEYS[5], ARGV[10], 'PX', window)
    if guardCap > 0 then redis.call('ZADD', KEYS[10], guardNow + window, KEYS[5]) end
  end
end
return {epoch, off, 'ok', total, evicted}
`;

/**
 * KEYS: meta, stream. ARGV: candidate epoch, since epoch ('' = position only), since offset,
 * now ms, ttl ms, meta ttl ms, empty-channel ttl ms.
 * Returns {epoch, offset, status, frame…}: status `ok` (frames = offsets since+1 … offset),
 * `epoch_changed`, `offset_ahead` or `history_gone`.
 */
export const READ_SCRIPT = `
local candidate = ARGV[1]
${EPOCH}
${KEEP_META('ARGV[6]', 'ARGV[7]')}
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
 * The batched recovery read. KEYS: meta, stream, the budget's lru zset. ARGV: candidate epoch,
 * from offset (-1 = position only), now ms, ttl ms, meta ttl ms, the channel's name, '1' when the
 * budget is on, empty-channel ttl ms. Returns {epoch, offset, first, frame…}: the frames of offsets first…offset still
 * in history and younger than ttl, where first ≥ from; first = offset + 1 when there are none.
 * Each requester's answer is cut from it (answerFrom()). Subscribing and recovering is use: a
 * channel in the budget moves to the recent end of the eviction order (a channel without a
 * stream is not added).
 */
export const READ_FROM_SCRIPT = `${NEXT_USE}
local candidate = ARGV[1]
${EPOCH}
if ARGV[7] == '1' and redis.call('ZSCORE', KEYS[3], ARGV[6]) then redis.call('ZADD', KEYS[3], nextUse(KEYS[3]), ARGV[6]) end
${KEEP_META('ARGV[5]', 'ARGV[8]')}
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

/**
 * A node keeps the hash of each channel it watches that nothing was published to yet alive.
 * KEYS: meta. ARGV: empty-channel ttl ms. Never creates the hash (a lost one is a new epoch, which
 * the next read notices); a channel published to meanwhile is left alone.
 */
export const TOUCH_EMPTY_SCRIPT = `
if redis.call('HGET', KEYS[1], 'o') == '0' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) return 1 end
return 0
`;
