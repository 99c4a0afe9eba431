-- System V message queues (msgget, msgsnd, msgrcv, msgctl) over Redis: every state change of
-- every call is one run of this script (after lib.lua), so it is atomic as the kernel's queue
-- lock makes it. The checks follow the kernel's order (ipc/msg.c, ipc/util.c) as src/emu/sysv
-- does; what the client checks before it calls (pointers, sizes, mtype, flag combinations) is
-- not repeated here.
--
-- ARGV[1] = operation: get snd rcv cancel info stat set rmid peek list
-- ARGV[2] = the caller (remote::script::caller), ARGV[3] its tgid, ARGV[4] its thread id,
-- ARGV[5] = waiter token ("" when the call cannot block), ARGV[6] = "1" when the call runs
--   again after waiting (a queue gone meanwhile is then EIDRM, not EINVAL)
-- ARGV[7..] = the operation's own arguments (below).
-- Answers: {'ok', ...}, {'wait'} (the token is registered: wait on its marker, run again), or
-- {errno name}.
--
-- A queue <id> (K.sv(id) = "{P}:sv:<id>"):
--   <id>          hash: key uid gid cuid cgid mode qbytes cbytes qnum lspid lrpid stime rtime
--                 ctime seq (ipc_perm's), next (message counter), wseq (waiter counter)
--   <id>:all      zset seq -> seq: every queued message in send order
--   <id>:t:<T>    zset seq -> seq: the queued messages of type T (19-digit zero-padded decimal)
--   <id>:types    zset T -> 0 (lexical order = numeric order): the types queued
--   <id>:b        hash seq -> T .. body (also a message handed to a blocked receiver)
--   <id>:st       hash seq -> when the message entered the queue (ns, the server's clock;
--                 `mqshim peek`'s age)
--   <id>:waiters, :wk, :seen   lib.lua's waiters (in blocking order, as the kernel serves
--                 them); kinds "r <mode> <T> <maxsize> <tid>" (msgrcv) and "s <size>" (msgsnd)
--   <id>:handed   hash token -> "<seq> <ms>" a message handed to a blocked receiver (the
--                 kernel's pipelined send; its body stays in :b; counted in the meta's hq and
--                 hb, not in qnum/cbytes) or "E <ms>" (E2BIG), and when: collected by that
--                 receiver's next run
-- Namespace: K.sv_keys hash key -> id, K.sv_ids zset id -> index, K.sv_seq hash next_idx
-- last_idx seq (the kernel's cyclic index allocator and its sequence number); the limits
-- msgmax, msgmnb, msgmni and msg_next_id: the namespace's sysctls (K.sysctl) over those the
-- caller states (limits_in_force), which get, info and set answer after their own values
-- (msgmax msgmnb msgmni) for the client's checks made before it calls.

local op = ARGV[1]
local who = caller(ARGV[2])
local pid, tid, token, rerun = ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1'

local WAIT = {'wait'}
-- This run's time: seconds (the kernel's stime/rtime/ctime) and milliseconds.
local sec = now()
local ms = now_ms()

local function meta(q)
  local flat = redis.call('HGETALL', q)
  if #flat == 0 then return nil end
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end

local function may(m, want)
  return ipcperms(tonumber(m.mode), tonumber(m.uid), tonumber(m.gid), tonumber(m.cuid),
    tonumber(m.cgid), want, who)
end

-- The kernel's ipcctl_obtain_check: the owner, the creator, or CAP_SYS_ADMIN.
local function owner_or_admin(m)
  return who.euid == tonumber(m.cuid) or who.euid == tonumber(m.uid) or who.has('A')
end

-- The kernel's msg_fits_inqueue: room for the bytes and for one more message.
local function fits(m, size)
  local qbytes = tonumber(m.qbytes)
  return tonumber(m.cbytes) + size <= qbytes and tonumber(m.qnum) + 1 <= qbytes
end

-- Puts message `seq` (type T .. body in :b) into the queue at its place in send order.
local function enqueue(q, seq, v)
  local typ = string.sub(v, 1, 19)
  redis.call('ZADD', q .. ':all', seq, seq)
  redis.call('ZADD', q .. ':t:' .. typ, seq, seq)
  redis.call('ZADD', q .. ':types', 0, typ)
  redis.call('HINCRBY', q, 'qnum', 1)
  redis.call('HINCRBY', q, 'cbytes', #v - 19)
end

local function testmsg(typ, mode, want)
  if mode == 'any' then return true end
  if mode == 'eq' then return typ == want end
  if mode == 'ne' then return typ ~= want end
  if mode == 'le' then return typ <= want end
  return false
end

-- The kernel's pipelined_send: the first blocked receiver (in blocking order) whose criteria
-- match gets the message; one whose buffer is too small gets E2BIG on the way. True when the
-- message was handed (it then never enters the queue).
local function pipelined_send(q, seq, typ, size)
  if redis.call('EXISTS', K.waiters(q)) == 0 then return false end
  for _, w in ipairs(waiters(q)) do
    local tok, kind = w[1], w[2]
    if tok ~= token and string.sub(kind, 1, 1) == 'r' and fresh(q, tok) then
      local mode, want, maxsize, rtid = string.match(kind, '^r (%a+) (%d+) (%d+) (%d+)$')
      if testmsg(typ, mode, want) then
        unregister(q, tok)
        wake_token(tok)
        if tonumber(maxsize) < size then
          redis.call('HSET', q .. ':handed', tok, 'E ' .. ms)
        else
          redis.call('HSET', q .. ':handed', tok, seq .. ' ' .. ms)
          redis.call('HSET', q, 'lrpid', rtid, 'rtime', sec)
          redis.call('HINCRBY', q, 'hq', 1)
          redis.call('HINCRBY', q, 'hb', size)
          return true
        end
      end
    end
  end
  return false
end

-- The kernel's ss_wakeup: every blocked sender whose message now fits looks again.
local function wake_senders(q, m)
  if redis.call('EXISTS', K.waiters(q)) == 0 then return end
  wake(q, function(kind)
    local size = string.match(kind, '^s (%d+)$')
    return size ~= nil and fits(m, tonumber(size))
  end)
end

-- Sends the scheduled messages of queue `q` (meta `m`, kept current) that have fallen due, as
-- msgsnd would send them at their due time: to a matching blocked receiver or into the queue;
-- one that does not fit msg_qbytes, or finds blocked senders (they go first), waits, like a
-- blocked sender, until a receive makes room. Payload: "<PID> <type><body>" (PID the
-- scheduling process's: lspid).
local function send_due(q, m)
  promote_due(q, function(payload, due_ns)
    local sp = string.find(payload, ' ', 1, true)
    local spid, v = string.sub(payload, 1, sp - 1), string.sub(payload, sp + 1)
    local typ, size = string.sub(v, 1, 19), #v - 19
    if not fits(m, size) or waiting(q, 's') > 0 then return false end
    local seq = redis.call('HINCRBY', q, 'next', 1)
    redis.call('HSET', q .. ':b', seq, v)
    redis.call('HSET', q .. ':st', seq, due_ns)
    local stime = string.sub(due_ns, 1, #due_ns - 9)
    if stime == '' then stime = '0' end
    redis.call('HSET', q, 'lspid', spid, 'stime', stime)
    m.lspid, m.stime = spid, stime
    if not pipelined_send(q, seq, typ, size) then
      enqueue(q, seq, v)
      m.qnum, m.cbytes = tostring(tonumber(m.qnum) + 1), tostring(tonumber(m.cbytes) + size)
    end
    return true
  end)
end

-- Every waiter looks again (IPC_SET, IPC_RMID), those handed something too.
local function wake_everyone(q)
  wake(q, nil)
  for _, tok in ipairs(redis.call('HKEYS', q .. ':handed')) do wake_token(tok) end
end

-- A message handed to a receiver that has not collected it for HANDED_MS (lib.lua) goes on (to
-- the next receiver, or to its place in the queue). True when the queue changed.
local function reclaim_handed(q)
  local changed = false
  local handed = redis.call('HGETALL', q .. ':handed')
  for i = 1, #handed, 2 do
    local tok, what, at = handed[i], string.match(handed[i + 1], '^(%w+) (%d+)$')
    if handed_too_long(at) then
      redis.call('HDEL', q .. ':handed', tok)
      local v = what ~= 'E' and redis.call('HGET', q .. ':b', what)
      if v then
        redis.call('HINCRBY', q, 'hq', -1)
        redis.call('HINCRBY', q, 'hb', 19 - #v)
        if not pipelined_send(q, what, string.sub(v, 1, 19), #v - 19) then
          enqueue(q, what, v)
          changed = true
        end
      end
    end
  end
  return changed
end

-- A message handed to a blocked receiver that it has not collected yet, which a receiver with
-- (mode, want) would take (the oldest; for 'le' the oldest of the lowest type): token, seq.
local function find_handed(q, mode, want)
  local handed = redis.call('HGETALL', q .. ':handed')
  local best_tok, best_seq, best_typ
  for i = 1, #handed, 2 do
    local seq = string.match(handed[i + 1], '^(%d+) ')
    local v = seq and redis.call('HGET', q .. ':b', seq)
    if v then
      local typ = string.sub(v, 1, 19)
      if testmsg(typ, mode, want) then
        local better = not best_seq
          or (mode == 'le' and (typ < best_typ or (typ == best_typ and tonumber(seq) < tonumber(best_seq))))
          or (mode ~= 'le' and tonumber(seq) < tonumber(best_seq))
        if better then best_tok, best_seq, best_typ = handed[i], seq, typ end
      end
    end
  end
  return best_tok, best_seq
end

-- Forgets message `seq`'s body and send time (it was received).
local function forget_body(q, seq)
  redis.call('HDEL', q .. ':b', seq)
  redis.call('HDEL', q .. ':st', seq)
end

local function drop_message(q, seq, typ)
  redis.call('ZREM', q .. ':all', seq)
  redis.call('ZREM', q .. ':t:' .. typ, seq)
  if redis.call('ZCARD', q .. ':t:' .. typ) == 0 then redis.call('ZREM', q .. ':types', typ) end
  forget_body(q, seq)
end

-- The first queued message a receiver with (mode, want) takes (the kernel's find_msg), or nil.
local function find_msg(q, mode, want)
  if mode == 'any' then
    return redis.call('ZRANGE', q .. ':all', 0, 0)[1]
  elseif mode == 'eq' then
    return redis.call('ZRANGE', q .. ':t:' .. want, 0, 0)[1]
  elseif mode == 'le' then
    local typ = redis.call('ZRANGEBYLEX', q .. ':types', '-', '[' .. want, 'LIMIT', 0, 1)[1]
    if not typ then return nil end
    return redis.call('ZRANGE', q .. ':t:' .. typ, 0, 0)[1]
  elseif mode == 'ne' then
    -- The oldest first message among the other types.
    local types = redis.call('ZRANGE', q .. ':types', 0, -1)
    local best
    for _, typ in ipairs(types) do
      if typ ~= want then
        local s = redis.call('ZRANGE', q .. ':t:' .. typ, 0, 0)[1]
        if s and (not best or tonumber(s) < tonumber(best)) then best = s end
      end
    end
    return best
  elseif mode == 'num' then
    local n = tonumber(want)
    if n < 0 then return nil end
    return redis.call('ZRANGE', q .. ':all', n, n)[1]
  end
  return nil
end

-- IPC_STAT's fields. Messages handed to blocked receivers and not collected yet count as
-- queued (for the moment a live receiver takes to collect one — one round trip — the kernel's
-- would show them gone already; one handed to a receiver that was killed stays until a receive
-- takes it).
local function stat_reply(id, m)
  local qnum = tonumber(m.qnum) + tonumber(m.hq or 0)
  local cbytes = tonumber(m.cbytes) + tonumber(m.hb or 0)
  return {'ok', tostring(id), m.key, m.uid, m.gid, m.cuid, m.cgid, m.mode, m.seq, m.stime, m.rtime,
    m.ctime, tostring(cbytes), tostring(qnum), m.qbytes, m.lspid, m.lrpid,
    tostring(scheduled_count(K.sv(id)))}
end

local function queue_or_error(id)
  local q = K.sv(id)
  local m = meta(q)
  if not m then return nil, nil, {rerun and 'EIDRM' or 'EINVAL'} end
  return q, m, nil
end

-- ---------------------------------------------------------------------------------------
if op == 'get' then
  -- ARGV: key, creat (1/0), excl (1/0), requested access (0-7), mode (0-511), stated limits
  local key, creat, excl = ARGV[7], ARGV[8] == '1', ARGV[9] == '1'
  local requested, mode = tonumber(ARGV[10]), ARGV[11]
  local L = limits_in_force(ARGV[12])
  local function done(id) return {'ok', id, L.msgmax, L.msgmnb, L.msgmni} end
  if key ~= '0' then
    local id = redis.call('HGET', K.sv_keys, key)
    if id then
      local m = meta(K.sv(id))
      if m then
        if creat and excl then return {'EEXIST'} end
        if not may(m, requested) then return {'EACCES'} end
        return done(tonumber(id))
      end
      redis.call('HDEL', K.sv_keys, key)
    end
    if not creat then return {'ENOENT'} end
  end
  -- ipc_addid / ipc_idr_alloc: the next free index cyclically below max(in_use * 3/2, 64);
  -- the sequence number moves on when the index wraps.
  local in_use = redis.call('ZCARD', K.sv_ids)
  if in_use >= math.min(L.msgmni, 32768) then return {'ENOSPC'} end
  local used = {}
  local ids = redis.call('ZRANGE', K.sv_ids, 0, -1, 'WITHSCORES')
  for i = 2, #ids, 2 do used[tonumber(ids[i])] = true end
  -- msg_next_id, when set, is taken (and cleared) by this creation: its sequence number, and its
  -- index or the first free one above it; the cyclic allocator is left as it was.
  local next_id = tonumber(redis.call('HGET', K.sysctl, 'msg_next_id') or '-1')
  local idx, seq
  if next_id >= 0 then
    redis.call('HDEL', K.sysctl, 'msg_next_id')
    seq = math.floor(next_id / 32768)
    for i = next_id % 32768, 32767 do
      if not used[i] then idx = i break end
    end
    if not idx then return {'ENOSPC'} end
  else
    local max_idx = math.min(math.max(math.floor(in_use * 3 / 2), 64), 32768)
    local a = redis.call('HMGET', K.sv_seq, 'next_idx', 'last_idx', 'seq')
    local start, last
    start, last, seq = tonumber(a[1] or 0), tonumber(a[2] or -1), tonumber(a[3] or 0)
    for i = start, max_idx - 1 do
      if not used[i] then idx = i break end
    end
    if not idx and start > 0 then
      for i = 0, max_idx - 1 do
        if not used[i] then idx = i break end
      end
    end
    if not idx then return {'ENOSPC'} end
    if idx <= last then
      seq = seq + 1
      if seq >= 65535 then seq = 0 end
    end
    redis.call('HSET', K.sv_seq, 'next_idx', idx + 1, 'last_idx', idx, 'seq', seq)
  end
  local id = seq * 32768 + idx
  redis.call('DEL', K.sv(id), K.sv(id) .. ':all', K.sv(id) .. ':types',
    K.sv(id) .. ':b', K.sv(id) .. ':st', K.waiters(K.sv(id)), K.wk(K.sv(id)),
    K.seen(K.sv(id)), K.sv(id) .. ':handed', K.sched(K.sv(id)), K.sbody(K.sv(id)))
  redis.call('HSET', K.sv(id), 'key', key, 'uid', who.euid, 'gid', who.egid, 'cuid', who.euid,
    'cgid', who.egid, 'mode', mode, 'qbytes', L.msgmnb, 'cbytes', 0, 'qnum', 0, 'lspid', 0,
    'lrpid', 0, 'stime', 0, 'rtime', 0, 'ctime', sec, 'seq', seq, 'next', 0, 'wseq', 0, 'hq', 0, 'hb', 0)
  redis.call('ZADD', K.sv_ids, idx, id)
  if key ~= '0' then redis.call('HSET', K.sv_keys, key, id) end
  return done(id)

-- ---------------------------------------------------------------------------------------
elseif op == 'snd' then
  -- ARGV: id, type (19 digits), body, nowait (1/0), the caller's stated msgmax
  local id, typ, body, nowait = ARGV[7], ARGV[8], ARGV[9], ARGV[10] == '1'
  local L = limits_in_force(ARGV[11])
  -- The kernel's first check (the client made it with the msgmax it last heard of).
  if not rerun and #body > L.msgmax then return {'EINVAL'} end
  local q, m, err = queue_or_error(id)
  if err then return err end
  if reclaim_handed(q) then m = meta(q) end
  send_due(q, m)
  local function send()
    if not may(m, 2) then return {'EACCES'} end
    local size = #body
    if fits(m, size) then
      local seq = redis.call('HINCRBY', q, 'next', 1)
      redis.call('HSET', q .. ':b', seq, typ .. body)
      redis.call('HSET', q .. ':st', seq, now_ns_text())
      redis.call('HSET', q, 'lspid', pid, 'stime', sec)
      if not pipelined_send(q, seq, typ, size) then enqueue(q, seq, typ .. body) end
      return {'ok'}
    end
    if nowait then return {'EAGAIN'} end
    register(q, token, 's ' .. size)
    return WAIT
  end
  local r = send()
  if r[1] ~= 'wait' and token ~= '' then unregister(q, token) end
  return r

-- ---------------------------------------------------------------------------------------
elseif op == 'rcv' or op == 'cancel' then
  -- ARGV: id, mode (any eq ne le num), type (19 digits; the ordinal for num), bufsz (as the
  -- caller's size_t, at most 2^63 - 1), noerror (1/0), nowait (1/0), copy limit (num only)
  -- 'cancel' (the same arguments; a sender's: its id, "any" and zeros): a waiter interrupted by
  -- a signal; what was handed to it still wins (as r_msg does in the kernel), else it is
  -- unregistered and gets EINTR.
  local id, mode, want = ARGV[7], ARGV[8], ARGV[9]
  local bufsz, noerror, nowait = tonumber(ARGV[10]), ARGV[11] == '1', ARGV[12] == '1'
  local q, m, err = queue_or_error(id)
  if err then return err end
  if token ~= '' then
    local h = redis.call('HGET', q .. ':handed', token)
    if h then
      redis.call('HDEL', q .. ':handed', token)
      unregister(q, token)
      local what = string.match(h, '^(%w+)')
      if what == 'E' then return {'E2BIG'} end
      local v = redis.call('HGET', q .. ':b', what)
      forget_body(q, what)
      if v then
        redis.call('HINCRBY', q, 'hq', -1)
        redis.call('HINCRBY', q, 'hb', 19 - #v)
        return {'ok', string.sub(v, 1, 19), string.sub(v, 20, 19 + math.min(bufsz, #v - 19))}
      end
    end
    if op == 'cancel' then
      unregister(q, token)
      return {'EINTR'}
    end
  end
  if reclaim_handed(q) then m = meta(q) end
  send_due(q, m)
  local function receive()
    if not may(m, 4) then return {'EACCES'} end
    local seq = find_msg(q, mode, want)
    if seq then
      local v = redis.call('HGET', q .. ':b', seq)
      local typ, len = string.sub(v, 1, 19), #v - 19
      if bufsz < len and not noerror then return {'E2BIG'} end
      if mode == 'num' then
        if len > tonumber(ARGV[13]) then return {'EINVAL'} end
        return {'ok', typ, string.sub(v, 20)}
      end
      drop_message(q, seq, typ)
      redis.call('HINCRBY', q, 'qnum', -1)
      redis.call('HINCRBY', q, 'cbytes', 0 - len)
      redis.call('HSET', q, 'lrpid', pid, 'rtime', sec)
      m.qnum, m.cbytes = tostring(tonumber(m.qnum) - 1), tostring(tonumber(m.cbytes) - len)
      wake_senders(q, m)
      -- The room made may be a due scheduled message's (when no sender waits for it).
      send_due(q, m)
      return {'ok', typ, string.sub(v, 20, 19 + math.min(bufsz, len))}
    end
    -- A receive that may not wait takes a message handed to a blocked receiver that has not
    -- collected it yet rather than fail: that receiver may be gone (killed while registered),
    -- and IPC_STAT counts the message (see stat_reply). A live one just waits on.
    local robbed, hseq = nil, nil
    if nowait and mode ~= 'num' then robbed, hseq = find_handed(q, mode, want) end
    if robbed then
      local v = redis.call('HGET', q .. ':b', hseq)
      local len = #v - 19
      if bufsz < len and not noerror then return {'E2BIG'} end
      redis.call('HDEL', q .. ':handed', robbed)
      forget_body(q, hseq)
      redis.call('HINCRBY', q, 'hq', -1)
      redis.call('HINCRBY', q, 'hb', 0 - len)
      redis.call('HSET', q, 'lrpid', pid, 'rtime', sec)
      return {'ok', string.sub(v, 1, 19), string.sub(v, 20, 19 + math.min(bufsz, len))}
    end
    if nowait then return {'ENOMSG'} end
    local maxsize = noerror and 2147483647 or math.min(bufsz, 2147483647)
    register(q, token, 'r ' .. mode .. ' ' .. want .. ' ' .. maxsize .. ' ' .. tid)
    -- (Its wait ends when the next scheduled message falls due: see due_in_ms.)
    return {'wait', due_in_ms(q)}
  end
  local r = receive()
  if r[1] ~= 'wait' and token ~= '' then unregister(q, token) end
  return r

-- ---------------------------------------------------------------------------------------
elseif op == 'sndat' then
  -- mqshim_msgsnd_at. ARGV: id, type (19 digits), body, due (µs, rounded up), due (ns), the
  -- caller's stated msgmax, "1" to check only (the caller's handle is not writable: EFAULT
  -- after these checks). msgsnd's checks, then at most SCHEDULED_MAX pending (EAGAIN). Due
  -- already, it is sent at once; blocked receivers look again (their waits end by the next
  -- due time).
  local id, typ, body = ARGV[7], ARGV[8], ARGV[9]
  local L = limits_in_force(ARGV[12])
  if #body > L.msgmax then return {'EINVAL'} end
  local q, m, err = queue_or_error(id)
  if err then return err end
  if not may(m, 2) then return {'EACCES'} end
  if ARGV[13] == '1' then return {'ok', 0} end
  if reclaim_handed(q) then m = meta(q) end
  send_due(q, m)
  local handle = schedule(q, ARGV[10], ARGV[11], pid .. ' ' .. typ .. body)
  if not handle then return {'EAGAIN'} end
  send_due(q, m)
  wake(q, function(kind) return string.sub(kind, 1, 1) == 'r' end)
  return {'ok', handle}

elseif op == 'unsched' then
  -- mqshim_msg_cancel. ARGV: id, handle. EINVAL, EACCES (write permission), then ENOENT when
  -- it is not pending (due already, cancelled, never scheduled).
  local q, m, err = queue_or_error(ARGV[7])
  if err then return err end
  if not may(m, 2) then return {'EACCES'} end
  send_due(q, m)
  if not cancel_scheduled(q, ARGV[8]) then return {'ENOENT'} end
  return {'ok'}

-- ---------------------------------------------------------------------------------------
elseif op == 'info' then
  -- ARGV: "1" for MSG_INFO (queues, messages and bytes in use), stated limits
  local L = limits_in_force(ARGV[8])
  local ids = redis.call('ZRANGE', K.sv_ids, 0, -1, 'WITHSCORES')
  local max_idx, messages, bytes = 0, 0, 0
  for i = 1, #ids, 2 do
    max_idx = math.max(max_idx, tonumber(ids[i + 1]))
    if ARGV[7] == '1' then
      local s = redis.call('HMGET', K.sv(ids[i]), 'qnum', 'cbytes', 'hq', 'hb')
      messages = messages + tonumber(s[1] or 0) + tonumber(s[3] or 0)
      bytes = bytes + tonumber(s[2] or 0) + tonumber(s[4] or 0)
    end
  end
  return {'ok', max_idx, #ids / 2, messages, bytes, L.msgmax, L.msgmnb, L.msgmni}

elseif op == 'stat' then
  -- ARGV: id (IPC_STAT) or index (MSG_STAT, MSG_STAT_ANY); "id", "idx" or "any"
  local which = ARGV[8]
  local id = ARGV[7]
  if which ~= 'id' then
    id = redis.call('ZRANGEBYSCORE', K.sv_ids, ARGV[7], ARGV[7])[1]
    if not id then return {'EINVAL'} end
  end
  local q, m, err = queue_or_error(id)
  if err then return err end
  if which ~= 'any' and not may(m, 4) then return {'EACCES'} end
  send_due(q, m)
  return stat_reply(id, m)

elseif op == 'set' then
  -- ARGV: id, uid, gid, mode (0-511), qbytes (decimal, as stored), qbytes as the kernel
  -- compares it with msgmnb (unsigned), ids valid (1/0: neither is -1), stated limits
  local L = limits_in_force(ARGV[14])
  local q, m, err = queue_or_error(ARGV[7])
  if err then return err end
  if not owner_or_admin(m) then return {'EPERM'} end
  if tonumber(ARGV[12]) > L.msgmnb and not who.has('S') then return {'EPERM'} end
  if ARGV[13] ~= '1' then return {'EINVAL'} end
  redis.call('HSET', q, 'uid', ARGV[8], 'gid', ARGV[9], 'mode', ARGV[10], 'qbytes', ARGV[11],
    'ctime', sec)
  -- expunge_all(-EAGAIN) and ss_wakeup: every waiter looks again.
  wake_everyone(q)
  m = meta(q)
  send_due(q, m)
  return {'ok', L.msgmax, L.msgmnb, L.msgmni}

elseif op == 'rmid' then
  -- ARGV: id; or, for `ipcrm -Q`, "" and a key
  local id = ARGV[7]
  if id == '' then
    id = redis.call('HGET', K.sv_keys, ARGV[8])
    if not id then return {'EINVAL'} end
  end
  local q, m, err = queue_or_error(id)
  if err then return err end
  if not owner_or_admin(m) then return {'EPERM'} end
  wake_everyone(q)
  local keys = {q, q .. ':all', q .. ':types', q .. ':b', q .. ':st', K.waiters(q), K.wk(q), K.seen(q),
    q .. ':handed', K.sched(q), K.sbody(q)}
  for _, typ in ipairs(redis.call('ZRANGE', q .. ':types', 0, -1)) do
    table.insert(keys, q .. ':t:' .. typ)
  end
  for i = 1, #keys, 100 do
    redis.call('DEL', unpack(keys, i, math.min(i + 99, #keys)))
  end
  redis.call('ZREM', K.sv_ids, id)
  if m.key ~= '0' and redis.call('HGET', K.sv_keys, m.key) == id then
    redis.call('HDEL', K.sv_keys, m.key)
  end
  return {'ok'}

elseif op == 'peek' then
  -- ARGV: id, preview length. The server's time (ns), qbytes, how many queued messages follow,
  -- and every queued message in arrival order, unchanged: {'ok', now, qbytes, n, type, length,
  -- first bytes, sent (ns, '' if unknown), ...}; then the pending scheduled ones, earliest due
  -- first, the same four with their due time (ns) last.
  local q, m, err = queue_or_error(ARGV[7])
  if err then return err end
  if not may(m, 4) then return {'EACCES'} end
  local preview = tonumber(ARGV[8])
  local out = {'ok', now_ns_text(), m.qbytes, 0}
  for _, seq in ipairs(redis.call('ZRANGE', q .. ':all', 0, -1)) do
    local v = redis.call('HGET', q .. ':b', seq)
    if v then
      table.insert(out, string.sub(v, 1, 19))
      table.insert(out, #v - 19)
      table.insert(out, string.sub(v, 20, 19 + preview))
      table.insert(out, redis.call('HGET', q .. ':st', seq) or '')
      out[4] = out[4] + 1
    end
  end
  -- Then the pending scheduled messages, earliest due first, with their due times (ns).
  for _, s in ipairs(scheduled_list(q)) do
    local v = string.sub(s[2], (string.find(s[2], ' ', 1, true) or 0) + 1)
    table.insert(out, string.sub(v, 1, 19))
    table.insert(out, #v - 19)
    table.insert(out, string.sub(v, 20, 19 + preview))
    table.insert(out, s[1])
  end
  return out

elseif op == 'list' then
  -- Every queue, by index: {'ok', {stat reply without its 'ok'}, ...}
  local ids = redis.call('ZRANGE', K.sv_ids, 0, -1)
  local out = {'ok'}
  for _, id in ipairs(ids) do
    local m = meta(K.sv(id))
    if m then
      local r = stat_reply(id, m)
      table.remove(r, 1)
      table.insert(out, r)
    end
  end
  return out
end
return {'EINVAL'}
