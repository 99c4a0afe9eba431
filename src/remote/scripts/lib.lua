-- mqshim's Lua prelude, put before every script (remote/script.rs). KEYS[1] is the namespace's
-- hash-tagged base '{P}'; every key is built here, mirroring remote/keys.rs.
-- A script answers a table whose first element is 'ok' (then its values), 'wait' (it
-- registered the caller as a waiter, or would have to wait) or an errno name ('EAGAIN').
local B = KEYS[1]
local K = {}
function K.waiter(token) return B .. ':w:' .. token end
function K.note(token) return B .. ':note:' .. token end
K.pq_names = B .. ':pq:names'
K.pq_next = B .. ':pq:next'
function K.pq(id) return B .. ':pq:' .. id end
function K.pq_m(id) return K.pq(id) .. ':m' end
function K.pq_b(id) return K.pq(id) .. ':b' end
function K.pq_p(id) return K.pq(id) .. ':p' end
function K.pq_asg(id) return K.pq(id) .. ':asg' end
function K.pq_op(id) return K.pq(id) .. ':op' end
K.pq_orphans = B .. ':pq:orphans'
K.pq_swept = B .. ':pq:swept'
K.pq_live = B .. ':pq:live'
K.pq_charge = B .. ':pq:charge'
function K.waiters(q) return q .. ':waiters' end
function K.wk(q) return q .. ':wk' end
function K.seen(q) return q .. ':seen' end
function K.conn(q) return q .. ':conn' end
K.sv_keys = B .. ':sv:keys'
K.sv_ids = B .. ':sv:ids'
K.sv_seq = B .. ':sv:seq'
function K.sv(id) return B .. ':sv:' .. id end
K.sysctl = B .. ':sysctl'

-- The limits in force for a caller (remote::sysctl): `stated` is what the caller states,
-- "key=value ..." (its machine's /proc or the stock defaults), a key marked '!key=value' being
-- the process's own setting (MQSHIM_CONFIG, MQSHIM_LIMITS), which wins; any other key the
-- namespace set through /proc (K.sysctl) has the namespace's value. A table key -> number.
local function limits_in_force(stated)
  local l, asked = {}, {}
  for own, k, v in string.gmatch(stated, '(!?)([%w_]+)=(%-?%d+)') do
    l[k] = tonumber(v)
    if own == '' then asked[#asked + 1] = k end
  end
  if #asked > 0 then
    local set = redis.call('HMGET', K.sysctl, unpack(asked))
    for i, k in ipairs(asked) do
      if set[i] then l[k] = tonumber(set[i]) end
    end
  end
  return l
end

-- The server's clock: seconds and microseconds, read once per script run (one instant for
-- everything a run stamps, as Redis 7.2+ and Valkey freeze time within a script anyway).
local NOW_S, NOW_US = nil, nil
local function now()
  if not NOW_S then
    local t = redis.call('TIME')
    NOW_S, NOW_US = tonumber(t[1]), tonumber(t[2])
  end
  return NOW_S, NOW_US
end

-- The server's clock in nanoseconds, as decimal text (a Lua number, a double, cannot hold it
-- exactly): a message's send time, a POSIX queue's times.
local function now_ns_text()
  local s, us = now()
  return string.format('%d%06d000', s, us)
end

local function now_ms()
  local s, us = now()
  return s * 1000 + math.floor(us / 1000)
end

-- The caller, as remote::script::caller writes it: "euid egid fsuid fsgid CAPS g1 g2 ...".
-- CAPS letters: D dac_override, R dac_read_search, O ipc_owner, S sys_resource, A sys_admin,
-- F fowner ('-' for none).
local function caller(s)
  local f = {}
  for w in string.gmatch(s, '%S+') do f[#f + 1] = w end
  local c = { euid = tonumber(f[1]), egid = tonumber(f[2]), fsuid = tonumber(f[3]), fsgid = tonumber(f[4]), caps = f[5], groups = {} }
  for i = 6, #f do c.groups[tonumber(f[i])] = true end
  function c.has(letter) return string.find(c.caps, letter, 1, true) ~= nil end
  return c
end

-- inode_permission on a queue of `mode` owned by uid:gid (POSIX): `want` 4 read, 2 write.
local function may_access_fs(mode, uid, gid, want, c)
  local bits
  if c.fsuid == uid then
    bits = math.floor(mode / 64) % 8
  elseif c.fsgid == gid or c.groups[gid] then
    bits = math.floor(mode / 8) % 8
  else
    bits = mode % 8
  end
  if bit.band(bits, want) == want then return true end
  if c.has('D') then return true end
  return want == 4 and c.has('R')
end

-- ipcperms (System V): `want` 4 read, 2 write; owner or creator, then group, then other.
local function ipcperms(mode, uid, gid, cuid, cgid, want, c)
  local bits
  if c.euid == uid or c.euid == cuid then
    bits = math.floor(mode / 64) % 8
  elseif c.egid == gid or c.egid == cgid or c.groups[gid] or c.groups[cgid] then
    bits = math.floor(mode / 8) % 8
  else
    bits = mode % 8
  end
  if bit.band(bits, want) == want then return true end
  return c.has('O')
end

-- Waiters of queue `q` (its meta hash key): `q:waiters` zset token -> order of first
-- registration (from the meta field 'wseq', so FIFO is exact), `q:wk` hash token -> kind
-- (free text; by convention its first letter says what the waiter waits for), `q:seen` zset
-- token -> last registration time (ms). A registration not renewed for STALE_MS is a waiter
-- that is gone (live ones renew at least every slice, remote::wait::SLICE_MS).
local STALE_MS = 5000

-- Called for each stale registration pruned, with (token, kind), before it is forgotten: a
-- script that attaches state to a waiter (a message assigned to it, a message it holds) sets
-- this to release that state.
local ON_STALE = nil

local function unregister(q, token)
  if token ~= '' then
    redis.call('ZREM', K.waiters(q), token)
    redis.call('ZREM', K.seen(q), token)
    redis.call('HDEL', K.wk(q), token)
    redis.call('HDEL', K.conn(q), token)
  end
end

-- Registers `token` (or renews its registration, keeping its place in the order) as `kind`;
-- `conn` (optional) says who the waiter is (POSIX: "connection-id pid host"), kept in
-- `q:conn` so that a client can tell a waiter that is gone at once instead of after STALE_MS.
local function register(q, token, kind, conn)
  if conn then redis.call('HSET', K.conn(q), token, conn) end
  if redis.call('ZSCORE', K.waiters(q), token) == false then
    redis.call('ZADD', K.waiters(q), redis.call('HINCRBY', q, 'wseq', 1), token)
  end
  redis.call('ZADD', K.seen(q), now_ms(), token)
  redis.call('HSET', K.wk(q), token, kind)
end

local function prune(q)
  local stale = redis.call('ZRANGEBYSCORE', K.seen(q), '-inf', now_ms() - STALE_MS)
  for _, t in ipairs(stale) do
    local kind = redis.call('HGET', K.wk(q), t)
    if ON_STALE and kind then ON_STALE(t, kind) end
    unregister(q, t)
  end
end

-- The kernel's pipelined send hands a message to a blocked receiver; here the message stays in
-- the queue, marked as that receiver's, until the receiver's next run collects it. A message is
-- handed only to a receiver seen within HAND_MS (a live one renews its registration at least
-- every 0.5 s slice, remote::wait::SLICE_MS): one not seen for longer is likely gone. One its
-- receiver has not collected within HANDED_MS (the receiver was woken at once: it died, or is
-- stopped) goes on to the next receiver or back to its place in the queue — both APIs.
local HAND_MS = 1000
local HANDED_MS = 1000

-- Whether the waiter `token` of `q` registered within HAND_MS (may be handed a message).
local function fresh(q, token)
  return tonumber(redis.call('ZSCORE', K.seen(q), token) or 0) >= now_ms() - HAND_MS
end

-- Whether a message handed at `at` (ms) has waited for its receiver longer than HANDED_MS.
local function handed_too_long(at)
  return tonumber(at) < now_ms() - HANDED_MS
end

-- Pushes a wake-up onto `token`'s marker (kept to one element, expiring).
local function wake_token(token)
  local m = K.waiter(token)
  redis.call('LPUSH', m, '1')
  redis.call('LTRIM', m, 0, 0)
  redis.call('EXPIRE', m, 60)
end

-- The live waiters of `q` in registration order, as a list of {token, kind}.
local function waiters(q)
  prune(q)
  local out = {}
  for _, t in ipairs(redis.call('ZRANGE', K.waiters(q), 0, -1)) do
    local kind = redis.call('HGET', K.wk(q), t)
    if kind then out[#out + 1] = { t, kind } end
  end
  return out
end

-- The first live waiter of `q` whose kind satisfies `matches(kind)`: token, kind (or nil).
local function first_waiter(q, matches)
  for _, w in ipairs(waiters(q)) do
    if matches(w[2]) then return w[1], w[2] end
  end
  return nil
end

-- Wakes every live waiter of `q` whose kind satisfies `matches(kind)` (nil: all); returns how
-- many.
local function wake(q, matches)
  local n = 0
  for _, w in ipairs(waiters(q)) do
    if matches == nil or matches(w[2]) then
      wake_token(w[1])
      n = n + 1
    end
  end
  return n
end

-- How many live waiters of `q` have a kind starting with `prefix`.
local function waiting(q, prefix)
  local n = 0
  for _, w in ipairs(waiters(q)) do
    if string.sub(w[2], 1, #prefix) == prefix then n = n + 1 end
  end
  return n
end

-- Removes every waiter registration of `q` (the queue is going away), waking them all.
local function wake_all_and_forget(q)
  wake(q, nil)
  redis.call('DEL', K.waiters(q), K.wk(q), K.seen(q), K.conn(q))
end

-- ---------------------------------------------------------------------------------------------

-- ---------------------------------------------------------------------------------------------
-- Scheduled messages (mqshim_mq_send_at, mqshim_msgsnd_at), one mechanism for both APIs. A
-- queue `q` (its meta hash key) keeps its pending ones in K.sched(q), a zset handle -> due time
-- (microseconds on the server's clock, rounded up, so never early), the handle zero-padded to
-- 20 digits so that equal due times keep scheduling order; and K.sbody(q), a hash handle ->
-- "<due_ns> <payload>" (the payload is the API's: what enters the queue). Due times compare
-- with the server's TIME, the clock every client of the namespace shares, as the queues'
-- times do: whichever client finds a message due, it finds the same. They are promoted
-- lazily, by every script that looks at the queue (promote_due), and a receiver that waits is
-- told when the next one falls due (due_in_ms) so that its wait ends then.
K.sched = function(q) return q .. ':sched' end
K.sbody = function(q) return q .. ':sbody' end
local SCHEDULED_MAX = 64

local function now_us()
  local s, us = now()
  return s * 1000000 + us
end

-- A handle (decimal text, as the client gives it) as its member in K.sched, or nil.
local function scheduled_member(handle)
  if not string.match(handle, '^%d+$') or #handle > 20 then return nil end
  return string.rep('0', 20 - #handle) .. handle
end

-- Schedules `payload` on `q` for `due_us` (µs, rounded up) / `due_ns` (decimal text): its
-- handle (never 0), or nil when SCHEDULED_MAX are pending (EAGAIN).
local function schedule(q, due_us, due_ns, payload)
  if redis.call('ZCARD', K.sched(q)) >= SCHEDULED_MAX then return nil end
  local handle = redis.call('HINCRBY', q, 'shandle', 1)
  local member = scheduled_member(tostring(handle))
  redis.call('ZADD', K.sched(q), due_us, member)
  redis.call('HSET', K.sbody(q), member, due_ns .. ' ' .. payload)
  return handle
end

-- Cancels the pending scheduled message `handle` of `q` (call after promote_due): false when
-- there is none, or it is due already (waiting for room, it is as good as sent): ENOENT.
local function cancel_scheduled(q, handle)
  local member = scheduled_member(handle)
  local due = member and redis.call('ZSCORE', K.sched(q), member)
  if not due or tonumber(due) <= now_us() then return false end
  redis.call('ZREM', K.sched(q), member)
  redis.call('HDEL', K.sbody(q), member)
  return true
end

-- Moves the scheduled messages of `q` whose time has come, earliest first, by
-- `enter(payload, due_ns)`, which answers false when the message cannot enter now (no room:
-- it waits, like a blocked sender, and those due after it with it). One ZRANGE when nothing
-- is due.
local function promote_due(q, enter)
  local now = now_us()
  while true do
    local first = redis.call('ZRANGE', K.sched(q), 0, 0, 'WITHSCORES')
    if #first == 0 or tonumber(first[2]) > now then return end
    local v = redis.call('HGET', K.sbody(q), first[1]) or ''
    local space = string.find(v, ' ', 1, true) or (#v + 1)
    if not enter(string.sub(v, space + 1), string.sub(v, 1, space - 1)) then return end
    redis.call('ZREM', K.sched(q), first[1])
    redis.call('HDEL', K.sbody(q), first[1])
  end
end

-- Milliseconds (rounded up, at least 1) until the next scheduled message of `q` falls due,
-- or nil when none is pending in the future: a waiting receiver's wait ends by then.
local function due_in_ms(q)
  local now = now_us()
  local first = redis.call('ZRANGEBYSCORE', K.sched(q), string.format('(%d', now), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #first == 0 then return nil end
  return math.max(1, math.ceil((tonumber(first[2]) - now) / 1000))
end

-- The pending scheduled messages of `q` (for a listing): how many.
local function scheduled_count(q)
  return redis.call('ZCARD', K.sched(q))
end

-- The pending scheduled messages of `q`, earliest due first, as {due_ns, payload} (for peek).
local function scheduled_list(q)
  local out = {}
  for _, member in ipairs(redis.call('ZRANGE', K.sched(q), 0, -1)) do
    local v = redis.call('HGET', K.sbody(q), member) or ''
    local space = string.find(v, ' ', 1, true) or (#v + 1)
    out[#out + 1] = { string.sub(v, 1, space - 1), string.sub(v, space + 1) }
  end
  return out
end
