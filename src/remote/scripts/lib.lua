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
function K.waiters(q) return q .. ':waiters' end
function K.wk(q) return q .. ':wk' end
K.sv_keys = B .. ':sv:keys'
K.sv_ids = B .. ':sv:ids'
K.sv_seq = B .. ':sv:seq'
function K.sv(id) return B .. ':sv:' .. id end

-- The server's clock: seconds and microseconds.
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]), tonumber(t[2])
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

-- Waiters: a zset token -> registration time (ms) and a hash token -> kind, beside queue `q`.
-- A registration older than this is a waiter that is gone (live ones renew every slice).
local STALE_MS = 5000

local function unregister(q, token)
  if token ~= '' then
    redis.call('ZREM', K.waiters(q), token)
    redis.call('HDEL', K.wk(q), token)
  end
end

local function register(q, token, kind)
  redis.call('ZADD', K.waiters(q), now_ms(), token)
  redis.call('HSET', K.wk(q), token, kind)
end

local function prune(q)
  local stale = redis.call('ZRANGEBYSCORE', K.waiters(q), '-inf', now_ms() - STALE_MS)
  for _, t in ipairs(stale) do
    redis.call('ZREM', K.waiters(q), t)
    redis.call('HDEL', K.wk(q), t)
  end
end

-- Wakes every live waiter of `q` whose kind satisfies `matches(kind)` (nil: all); returns how
-- many. A wake is a "1" on the waiter's marker (kept to one element, expiring).
local function wake(q, matches)
  prune(q)
  local n = 0
  for _, t in ipairs(redis.call('ZRANGE', K.waiters(q), 0, -1)) do
    local kind = redis.call('HGET', K.wk(q), t)
    if kind and (matches == nil or matches(kind)) then
      local m = K.waiter(t)
      redis.call('LPUSH', m, '1')
      redis.call('LTRIM', m, 0, 0)
      redis.call('EXPIRE', m, 60)
      n = n + 1
    end
  end
  return n
end

-- How many live waiters of `q` have a kind starting with `prefix`.
local function waiting(q, prefix)
  prune(q)
  local n = 0
  for _, t in ipairs(redis.call('ZRANGE', K.waiters(q), 0, -1)) do
    local kind = redis.call('HGET', K.wk(q), t)
    if kind and string.sub(kind, 1, #prefix) == prefix then n = n + 1 end
  end
  return n
end

-- Removes every waiter registration of `q` (the queue is going away), waking them all.
local function wake_all_and_forget(q)
  wake(q, nil)
  redis.call('DEL', K.waiters(q), K.wk(q))
end

-- ---------------------------------------------------------------------------------------------
