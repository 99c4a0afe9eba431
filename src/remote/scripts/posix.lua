-- POSIX queues (remote/posix.rs): one script, ARGV[1] names the operation, the rest are its
-- arguments. A queue is the meta hash K.pq(id) (fields: name mode uid gid maxmsg msgsize seq
-- wseq opens unlinked bytes atime_ns mtime_ns charge charge_uid n_*), its messages K.pq_m
-- (order), K.pq_b (bodies), K.pq_p ("<prio> <ns>": priority and when it entered the queue, the
-- server's clock), its openers K.pq_op (process token -> "COUNT PID HOST START": how many of its
-- descriptions that process holds, and who it is, for the client to tell whether it is gone;
-- token.."+" -> "COUNT 0 HOST 0 CPID:CSTART ...": counts a process gave back while children it
-- forked since lived, kept while any of them lives; 'opens' is their sum), and its waiters
-- (lib.lua) with these kinds:
--   'r'        a receiver waiting for a message
--   'R <seq> <ms>'  a receiver message <seq> was handed to at <ms> (pipelined send): the
--              message stays in the queue, hidden from the count and from other receivers
--              (K.pq_asg), until it takes it — or until it is found gone, or has not taken it
--              within HANDED_MS (lib.lua, as System V), when the message is free again
--   's'        a sender waiting for room (its message stays with it)
--   'S'        a sender a receive made room for (pipelined receive): the slot is reserved for
--              it (meta 'reserved', counted as a message) until it puts its message there —
--              a sender found gone gives its slot back, never a message it did not send
--   'p'        a process that keeps its descriptors' readiness for poll/select/epoll (its
--              token is its process token; remote/posix/ready.rs): every change of the count
--              wakes it, as the kernel wakes a queue's pollers on each insert and receive
local OP = ARGV[1]
local SEQ_SPAN = 68719476736 -- 2^36: seq below it; score = (32767 - prio) * 2^36 + seq
local HARD_MSGMAX = 65536
local HARD_MSGSIZEMAX = 16777216
local PER_MESSAGE_OVERHEAD = 48
local PER_PRIORITY_OVERHEAD = 48

local function is_receiver(kind) return kind == 'r' end
local function is_sender(kind) return kind == 's' end
local function is_poller(kind) return kind == 'p' end

local CUR = nil -- the queue's id while an operation runs (for ON_STALE)
ON_STALE = function(token, kind)
  local first = string.sub(kind, 1, 1)
  if first == 'R' then
    redis.call('HDEL', K.pq_asg(CUR), string.match(kind, '^R (%d+)'))
  elseif first == 'S' then
    redis.call('HINCRBY', K.pq(CUR), 'reserved', -1)
  end
end

-- Messages the count shows: those not handed to a waiting receiver, and the slots reserved
-- for senders.
local function curmsgs(id)
  local reserved = tonumber(redis.call('HGET', K.pq(id), 'reserved') or '0')
  return redis.call('ZCARD', K.pq_m(id)) - redis.call('HLEN', K.pq_asg(id)) + reserved
end

-- The queue's times as the kernel stamps its mqueue inode's (ctime always equals atime: every
-- change that sets one sets the other): a send or a receive sets all three
-- (simple_inode_init_ts), mq_notify and mq_setattr atime and ctime; `t` is now_ns_text().
local function stamp_times(q, t, modified)
  if modified then
    redis.call('HSET', q, 'atime_ns', t, 'mtime_ns', t)
  else
    redis.call('HSET', q, 'atime_ns', t)
  end
end

-- A message's priority and the time it entered the queue (K.pq_p's "<prio> <ns>"; '' when
-- unknown).
local function props(id, seq)
  local prio, at = string.match(redis.call('HGET', K.pq_p(id), seq) or '0', '^(%d+) ?(%d*)$')
  return tonumber(prio or '0'), at or ''
end

-- Queues `body` at `prio`; it entered at `t` (now_ns_text()).
local function insert(id, prio, body, t)
  local q = K.pq(id)
  local seq = redis.call('HINCRBY', q, 'seq', 1)
  redis.call('ZADD', K.pq_m(id), (32767 - prio) * SEQ_SPAN + seq, seq)
  redis.call('HSET', K.pq_b(id), seq, body)
  redis.call('HSET', K.pq_p(id), seq, prio .. ' ' .. t)
  redis.call('HINCRBY', q, 'bytes', #body)
end

local function take(id, seq)
  local body = redis.call('HGET', K.pq_b(id), seq) or ''
  local prio = props(id, seq)
  redis.call('ZREM', K.pq_m(id), seq)
  redis.call('HDEL', K.pq_b(id), seq)
  redis.call('HDEL', K.pq_p(id), seq)
  redis.call('HDEL', K.pq_asg(id), seq)
  redis.call('HINCRBY', K.pq(id), 'bytes', 0 - #body) -- (not -#body: -0 is no integer)
  return body, prio
end

-- The first message in receive order not handed to a waiter, or nil.
local function first_free(id)
  local handed = redis.call('HLEN', K.pq_asg(id))
  for _, seq in ipairs(redis.call('ZRANGE', K.pq_m(id), 0, handed)) do
    if redis.call('HEXISTS', K.pq_asg(id), seq) == 0 then return seq end
  end
  return nil
end

-- Hands free messages to waiting receivers seen within HAND_MS, longest waiting first (the
-- kernel's pipelined send: the receiver has its message even before it runs).
local function serve_receivers(id)
  local q = K.pq(id)
  for _, w in ipairs(waiters(q)) do
    if is_receiver(w[2]) and fresh(q, w[1]) then
      local seq = first_free(id)
      if not seq then return end
      redis.call('HSET', K.pq_asg(id), seq, w[1])
      redis.call('HSET', K.wk(q), w[1], 'R ' .. seq .. ' ' .. now_ms())
      wake_token(w[1])
    end
  end
end

-- Prunes stale registrations and frees what a receiver has not collected within HANDED_MS
-- (it goes to the next receiver with serve_receivers).
local function tidy(id)
  local q = K.pq(id)
  prune(q)
  local handed = redis.call('HGETALL', K.pq_asg(id))
  for i = 1, #handed, 2 do
    local kind = redis.call('HGET', K.wk(q), handed[i + 1])
    local at = kind and string.match(kind, '^R %d+ (%d+)$')
    if not at or handed_too_long(at) then
      if kind then ON_STALE(handed[i + 1], kind) else redis.call('HDEL', K.pq_asg(id), handed[i]) end
      unregister(q, handed[i + 1])
    end
  end
end

-- Reserves the room there is for blocked senders, longest waiting first, and wakes them (the
-- kernel's pipelined receive, with the sender putting its message in when it runs).
local function serve_senders(id)
  local q = K.pq(id)
  local maxmsg = tonumber(redis.call('HGET', q, 'maxmsg'))
  while curmsgs(id) < maxmsg do
    local s = first_waiter(q, is_sender)
    if not s then return end
    redis.call('HSET', K.wk(q), s, 'S')
    redis.call('HINCRBY', q, 'reserved', 1)
    wake_token(s)
  end
end

-- What a caller that cannot wait is told: {'ok', 'W', token, who, ...} with the waiters (a
-- waiter that is gone may hold a message handed to it or a slot reserved for it, or be handed
-- the next one: the client tells from `who` whether it is gone, and reaps it: see op_reap).
local function would_block(id)
  local q = K.pq(id)
  local out = { 'ok', 'W' }
  for _, w in ipairs(waiters(q)) do
    -- (A poller holds nothing and is never handed anything.)
    if not is_poller(w[2]) then
      out[#out + 1] = w[1]
      out[#out + 1] = redis.call('HGET', K.conn(q), w[1]) or '0'
    end
  end
  return out
end

-- Drops the queue's notification registration (all of its fields); with OWNER, only if that
-- ptoken holds it. True when there was one to drop.
local function drop_notification(q, owner)
  if owner and redis.call('HGET', q, 'n_ptoken') ~= owner then return false end
  return redis.call('HDEL', q, 'n_ptoken', 'n_pid', 'n_tid', 'n_host', 'n_kind', 'n_signo', 'n_value') > 0
end

-- The scheduled messages of queue `id` that have fallen due enter while there is room (after
-- the blocked senders, whose slots serve_senders reserved: they count), in priority order with
-- the others, each as sent at its due time; serve_receivers then hands them to blocked
-- receivers. One entering an empty queue with no receiver waiting fires the notification:
-- relayed through the owner's helper thread (remote/posix/notify.rs), as whichever process
-- found it due cannot deliver it itself within this script. Payload: "PRIO PID UID BODY"
-- (the scheduling process's pid and uid, the notification's sender).
local function promote(id)
  local q = K.pq(id)
  local maxmsg = nil
  promote_due(q, function(payload, due_ns)
    maxmsg = maxmsg or tonumber(redis.call('HGET', q, 'maxmsg'))
    local cur = curmsgs(id)
    if cur >= maxmsg then return false end
    local prio, spid, suid, body = string.match(payload, '^(%d+) (%-?%d+) (%d+) (.*)$')
    local quiet = cur == 0 and first_waiter(q, is_receiver) == nil
    insert(id, tonumber(prio), body, due_ns)
    stamp_times(q, due_ns, true)
    serve_receivers(id)
    local owner = quiet and redis.call('HGET', q, 'n_ptoken')
    if owner then
      drop_notification(q)
      local note = K.note(owner)
      redis.call('LPUSH', note, id .. ' relay ' .. spid .. ' ' .. suid)
      redis.call('EXPIRE', note, 60)
    end
    return true
  end)
end

-- What the queue owes its waiters: room to blocked senders, due scheduled messages their
-- place, messages to blocked receivers.
local function settle(id)
  serve_senders(id)
  promote(id)
  serve_receivers(id)
end

-- The queue a call on descriptor ID is about, brought up to date first (stale registrations
-- pruned, blocked senders and due scheduled messages served): its meta key, or nil when the
-- queue is gone (the caller's EBADF).
local function looked_at(id)
  CUR = id
  local q = K.pq(id)
  if redis.call('EXISTS', q) == 0 then return nil end
  tidy(id)
  settle(id)
  return q
end

-- The count before an operation on queue `id`, when the queue is polled (meta 'polled': a
-- poller ever registered); nil otherwise (or no such queue), so that an unpolled queue's
-- operations do only this one HEXISTS more.
local function count_if_polled(id)
  if redis.call('HEXISTS', K.pq(id), 'polled') == 0 then return nil end
  return curmsgs(id)
end

-- After an operation on a polled queue whose count was `before`: a change bumps meta 'chg'
-- and wakes the pollers. The count and 'chg', for the caller to keep its own descriptors.
local function count_changed(id, before)
  local q = K.pq(id)
  local cur = curmsgs(id)
  if cur ~= before then
    redis.call('HINCRBY', q, 'chg', 1)
    wake(q, is_poller)
  end
  return cur, tonumber(redis.call('HGET', q, 'chg') or '0')
end

local function destroy(id)
  local q = K.pq(id)
  local m = redis.call('HMGET', q, 'charge_uid', 'charge')
  if m[1] then redis.call('HINCRBY', K.pq_charge, m[1], 0 - tonumber(m[2])) end
  wake_all_and_forget(q)
  redis.call('DEL', q, K.pq_m(id), K.pq_b(id), K.pq_p(id), K.pq_asg(id), K.pq_op(id), K.sched(q), K.sbody(q))
  redis.call('SREM', K.pq_live, id)
  redis.call('SREM', K.pq_orphans, id)
end

-- Counts one more description of queue `id` held by the process WHO ("PTOKEN PID HOST START").
local function opened(id, who)
  local ptoken, rest = string.match(who, '^(%S+) (.*)$')
  local held = redis.call('HGET', K.pq_op(id), ptoken)
  local n = held and tonumber(string.match(held, '^(%d+)')) or 0
  redis.call('HSET', K.pq_op(id), ptoken, (n + 1) .. ' ' .. rest)
  redis.call('HINCRBY', K.pq(id), 'opens', 1)
end

-- The process PTOKEN gives back one of its descriptions of queue `id` (ALL: every one — it is
-- gone). An unlinked queue left with none goes; one still open is an orphan: true then (the
-- client looks whether its other openers are gone).
local function released(id, ptoken, all)
  local q = K.pq(id)
  local held = redis.call('HGET', K.pq_op(id), ptoken)
  -- Not held: already given back (a sweep found the process gone).
  if not held then return false end
  local n = tonumber(string.match(held, '^(%d+)'))
  local give = all and n or 1
  if n > give then
    redis.call('HSET', K.pq_op(id), ptoken, (n - give) .. string.match(held, '^%d+(.*)$'))
  else
    redis.call('HDEL', K.pq_op(id), ptoken)
  end
  local opens = redis.call('HINCRBY', q, 'opens', 0 - give)
  if redis.call('HGET', q, 'unlinked') ~= '1' then return false end
  if opens <= 0 then
    destroy(id)
    return false
  end
  return true
end

local function charge_of(maxmsg, msgsize)
  return maxmsg * msgsize + maxmsg * PER_MESSAGE_OVERHEAD + math.min(maxmsg, 32768) * PER_PRIORITY_OVERHEAD
end

-- ---- the operations ------------------------------------------------------------------------

-- The process PTOKEN gives back a description while children it forked since live (CHILDREN,
-- "CPID:CSTART ..."): they may hold it without having counted themselves (adopt), so its count
-- moves to the entry PTOKEN.."+", which lives while any of them does. False when PTOKEN holds
-- nothing here.
local function kept_for_children(id, ptoken, children)
  local held = redis.call('HGET', K.pq_op(id), ptoken)
  if not held then return false end
  local n, host = string.match(held, '^(%d+) %S+ (%S+)')
  n = tonumber(n)
  if n > 1 then
    redis.call('HSET', K.pq_op(id), ptoken, (n - 1) .. string.match(held, '^%d+(.*)$'))
  else
    redis.call('HDEL', K.pq_op(id), ptoken)
  end
  local kept = redis.call('HGET', K.pq_op(id), ptoken .. '+')
  local k = kept and tonumber(string.match(kept, '^(%d+)')) or 0
  redis.call('HSET', K.pq_op(id), ptoken .. '+', (k + 1) .. ' 0 ' .. host .. ' 0 ' .. children)
  return true
end

-- Whether the caller should look for orphans' openers that are gone (see op_openers): when
-- there are orphans and nobody looked within the last second (1 or 0).
local function sweep_due()
  if redis.call('SCARD', K.pq_orphans) == 0 then return 0 end
  local t = now_ms()
  if t - tonumber(redis.call('GET', K.pq_swept) or '0') < 1000 then return 0 end
  redis.call('SET', K.pq_swept, t, 'PX', 60000)
  return 1
end

-- open NAME CREAT EXCL ACC MODE HAS_ATTR MAXMSG MSGSIZE CALLER LIMITS RLIMIT CHARGE_UID OPENER
--   -> ok ID MAXMSG MSGSIZE SWEEP. LIMITS: the caller's stated limits, over which the
--   namespace's sysctls apply (limits_in_force). prepare_open's order for an existing queue;
--   mqueue_create_attr's (queues_max, the attributes, RLIMIT_MSGQUEUE) for a new one. OPENER:
--   the process ("PTOKEN PID HOST START"); SWEEP: sweep_due.
local function op_open()
  local name, creat, excl, acc = ARGV[2], ARGV[3] == '1', ARGV[4] == '1', tonumber(ARGV[5])
  local c = caller(ARGV[10])
  local id = redis.call('HGET', K.pq_names, name)
  if id then
    if creat and excl then return { 'EEXIST' } end
    if acc == 3 then return { 'EINVAL' } end
    local q = K.pq(id)
    local m = redis.call('HMGET', q, 'mode', 'uid', 'gid', 'maxmsg', 'msgsize')
    local want = ({ [0] = 4, [1] = 2, [2] = 6 })[acc]
    if not may_access_fs(tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), want, c) then return { 'EACCES' } end
    opened(id, ARGV[14])
    return { 'ok', tonumber(id), tonumber(m[4]), tonumber(m[5]), sweep_due() }
  end
  if not creat then return { 'ENOENT' } end
  local lim = limits_in_force(ARGV[11])
  local msg_max, msgsize_max, msg_default, msgsize_default, queues_max = lim.msg_max, lim.msgsize_max, lim.msg_default,
    lim.msgsize_default, lim.queues_max
  local exempt = c.has('S')
  if redis.call('SCARD', K.pq_live) >= queues_max and not exempt then return { 'ENOSPC' } end
  local maxmsg, msgsize
  if ARGV[7] == '1' then
    maxmsg, msgsize = tonumber(ARGV[8]), tonumber(ARGV[9])
  else
    maxmsg, msgsize = math.min(msg_default, msg_max), math.min(msgsize_default, msgsize_max)
  end
  if maxmsg <= 0 or msgsize <= 0 then return { 'EINVAL' } end
  if exempt then msg_max, msgsize_max = HARD_MSGMAX, HARD_MSGSIZEMAX end
  if maxmsg > msg_max or msgsize > msgsize_max then return { 'EINVAL' } end
  local charge = charge_of(maxmsg, msgsize)
  local charged = tonumber(redis.call('HGET', K.pq_charge, ARGV[13]) or '0')
  if ARGV[12] ~= 'inf' and charged + charge > tonumber(ARGV[12]) then return { 'EMFILE' } end
  redis.call('HINCRBY', K.pq_charge, ARGV[13], charge)
  id = redis.call('INCR', K.pq_next)
  local t = now_ns_text()
  redis.call('HSET', K.pq(id), 'name', name, 'mode', ARGV[6], 'uid', c.fsuid, 'gid', c.fsgid, 'maxmsg', maxmsg,
    'msgsize', msgsize, 'seq', 0, 'opens', 0, 'unlinked', 0, 'bytes', 0, 'atime_ns', t, 'mtime_ns', t,
    'charge', charge, 'charge_uid', ARGV[13])
  opened(id, ARGV[14])
  redis.call('HSET', K.pq_names, name, id)
  redis.call('SADD', K.pq_live, id)
  return { 'ok', id, maxmsg, msgsize, sweep_due() }
end

-- close ID RELEASE PTOKEN [CHILDREN] -> ok [orphan]: the caller's notification goes (any close
-- by its owner, as mqueue_flush_file); RELEASE '1': the process's last descriptor of the
-- description went (released, or kept_for_children); 'orphan': the queue is unlinked and
-- others still hold it.
local function op_close()
  local id = ARGV[2]
  local q = K.pq(id)
  CUR = id
  if redis.call('EXISTS', q) == 0 then return { 'ok' } end
  drop_notification(q, ARGV[4] or '')
  if ARGV[3] == '1' and (ARGV[5] or '') ~= '' and kept_for_children(id, ARGV[4], ARGV[5]) then return { 'ok' } end
  if ARGV[3] == '1' and released(id, ARGV[4], false) then return { 'ok', 'orphan' } end
  return { 'ok' }
end

-- adopt ID OPENER -> ok: a forked child counts itself among the queue's openers.
local function op_adopt()
  local q = K.pq(ARGV[2])
  if redis.call('EXISTS', q) == 0 then return { 'EBADF' } end
  opened(ARGV[2], ARGV[3])
  return { 'ok' }
end

-- openers [ID] -> ok ID PTOKEN WHO ...: the openers of queue ID, or of every orphan (an
-- unlinked queue still open), for the client to tell which are gone (WHO = "PID HOST START").
local function op_openers()
  local out = { 'ok' }
  local ids = ARGV[2] and { ARGV[2] } or redis.call('SMEMBERS', K.pq_orphans)
  for _, id in ipairs(ids) do
    local held = redis.call('HGETALL', K.pq_op(id))
    for i = 1, #held, 2 do
      out[#out + 1] = id
      out[#out + 1] = held[i]
      out[#out + 1] = string.match(held[i + 1], '^%d+ (.*)$')
    end
  end
  return out
end

-- sweep ID PTOKEN ... -> ok: these processes are gone: what they held open is given back (as
-- their descriptors' close at exit does on the kernel), and an unlinked queue left with no
-- opener goes, with its queues_max slot and its RLIMIT_MSGQUEUE charge.
local function op_sweep()
  for i = 2, #ARGV - 1, 2 do
    if redis.call('EXISTS', K.pq(ARGV[i])) == 1 then released(ARGV[i], ARGV[i + 1], true) end
  end
  return { 'ok' }
end

-- unlink NAME CALLER -> ok [ID]: ID when the queue stays (others hold it open: an orphan, whose
-- openers the client looks at). The mqueue root is sticky and root's: only the queue's owner,
-- root or CAP_FOWNER may remove a name (EACCES).
local function op_unlink()
  local name = ARGV[2]
  local c = caller(ARGV[3])
  local id = redis.call('HGET', K.pq_names, name)
  if not id then return { 'ENOENT' } end
  CUR = id
  local q = K.pq(id)
  local uid = tonumber(redis.call('HGET', q, 'uid'))
  if c.fsuid ~= uid and c.fsuid ~= 0 and not c.has('F') then return { 'EACCES' } end
  redis.call('HDEL', K.pq_names, name)
  redis.call('HSET', q, 'unlinked', 1)
  if tonumber(redis.call('HGET', q, 'opens') or '0') <= 0 then
    destroy(id)
    return { 'ok' }
  end
  redis.call('SADD', K.pq_orphans, id)
  return { 'ok', id }
end

-- send ID BODY PRIO TOKEN MODE WHO -> ok [N kind signo value pid tid host ptoken] (a
-- notification fired: the caller delivers or relays it). MODE '1': may wait (registers, with
-- WHO = "connection-id pid host", and says wait when full); '0': may not (a full queue is
-- would_block, and the caller's earlier registration goes); 'x': interrupted (completes only
-- if room was made for it; else wait).
local function op_send()
  local id, body, prio, token, mode = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
  local q = looked_at(id)
  if not q then return { 'EBADF' } end
  local kind = redis.call('HGET', K.wk(q), token)
  if kind == 'S' then
    -- Room was made for it while it waited: it is served, even if interrupted or late now (the
    -- receive that made the room set the queue's times, as the kernel's pipelined receive).
    unregister(q, token)
    redis.call('HINCRBY', q, 'reserved', -1)
    insert(id, prio, body, now_ns_text())
    serve_receivers(id)
    return { 'ok' }
  end
  local maxmsg = tonumber(redis.call('HGET', q, 'maxmsg'))
  local cur = curmsgs(id)
  local blocked = cur >= maxmsg or (kind == 's' and first_waiter(q, is_sender) ~= token)
  if blocked or mode == 'x' then
    if mode == '1' and blocked then
      register(q, token, 's', ARGV[7])
      return { 'wait' }
    end
    unregister(q, token)
    if mode == 'x' then return { 'wait' } end
    return would_block(id)
  end
  unregister(q, token)
  local receiver_waiting = first_waiter(q, is_receiver) ~= nil
  local t = now_ns_text()
  insert(id, prio, body, t)
  stamp_times(q, t, true)
  serve_receivers(id)
  if cur == 0 and not receiver_waiting then
    local n = redis.call('HMGET', q, 'n_ptoken', 'n_kind', 'n_signo', 'n_value', 'n_pid', 'n_tid', 'n_host')
    if n[1] then
      drop_notification(q)
      return { 'ok', 'N', n[2], n[3], n[4], n[5], n[6], n[7], n[1] }
    end
  end
  return { 'ok' }
end

-- send_at ID BODY PRIO DUE_US DUE_NS PID UID -> ok HANDLE, or EAGAIN (SCHEDULED_MAX pending):
-- mqshim_mq_send_at. DUE_US is the due time in microseconds rounded up (the server's clock
-- decides), DUE_NS exactly; PID and UID the scheduling process's. Already due, it enters at
-- once; blocked receivers look again (their waits end by the next due time).
local function op_send_at()
  local id = ARGV[2]
  local q = looked_at(id)
  if not q then return { 'EBADF' } end
  local handle = schedule(q, ARGV[5], ARGV[6], ARGV[4] .. ' ' .. ARGV[7] .. ' ' .. ARGV[8] .. ' ' .. ARGV[3])
  if not handle then return { 'EAGAIN' } end
  settle(id)
  wake(q, is_receiver)
  return { 'ok', handle }
end

-- unschedule ID HANDLE -> ok, or ENOENT (not pending: due, cancelled, never scheduled):
-- mqshim_mq_cancel.
local function op_unschedule()
  local id = ARGV[2]
  local q = looked_at(id)
  if not q then return { 'EBADF' } end
  if not cancel_scheduled(q, ARGV[3]) then return { 'ENOENT' } end
  return { 'ok' }
end

-- receive ID TOKEN MODE WHO -> ok M BODY PRIO, or wait (would_block with MODE '0'). MODE as for
-- send; 'x' takes only a message already handed to the caller.
local function op_receive()
  local id, token, mode = ARGV[2], ARGV[3], ARGV[4]
  -- (What a waiter found gone held goes to the next one.)
  local q = looked_at(id)
  if not q then return { 'EBADF' } end
  local kind = redis.call('HGET', K.wk(q), token)
  if kind and string.sub(kind, 1, 1) == 'R' then
    -- Handed to the caller while it waited: it was never counted, so no room is made.
    unregister(q, token)
    local body, prio = take(id, string.match(kind, '^R (%d+)'))
    return { 'ok', 'M', body, prio }
  end
  -- Free messages remain only while no receiver waits (serve_receivers hands them out).
  local seq = nil
  if mode ~= 'x' and kind ~= 'r' then seq = first_free(id) end
  if seq then
    unregister(q, token)
    local body, prio = take(id, seq)
    stamp_times(q, now_ns_text(), true)
    settle(id)
    return { 'ok', 'M', body, prio }
  end
  if mode == '1' then
    register(q, token, 'r', ARGV[5])
    -- (Its wait ends when the next scheduled message falls due: see due_in_ms.)
    return { 'wait', due_in_ms(q) }
  end
  unregister(q, token)
  if mode == 'x' then return { 'wait' } end
  return would_block(id)
end

-- attr ID [SET] -> ok CURMSGS [token who ...] (the waiters, as would_block); SET '1': an
-- mq_setattr with new attributes, which sets atime and ctime.
local function op_attr()
  local id = ARGV[2]
  local q = looked_at(id)
  if not q then return { 'EBADF' } end
  if ARGV[3] == '1' then stamp_times(q, now_ns_text(), false) end
  local out = would_block(id)
  out[2] = curmsgs(id)
  return out
end

-- notify_set ID PTOKEN PID TID HOST KIND SIGNO VALUE REPLACE -> ok, or busy with the current
-- owner (pid tid host ptoken) for the caller to tell whether it still exists; REPLACE is the
-- ptoken of an owner the caller found gone.
local function op_notify_set()
  local id = ARGV[2]
  local q = K.pq(id)
  if redis.call('EXISTS', q) == 0 then return { 'EBADF' } end
  local cur = redis.call('HMGET', q, 'n_ptoken', 'n_pid', 'n_tid', 'n_host')
  if cur[1] and cur[1] ~= ARGV[10] then return { 'ok', 'busy', cur[2], cur[3], cur[4], cur[1] } end
  redis.call('HSET', q, 'n_ptoken', ARGV[3], 'n_pid', ARGV[4], 'n_tid', ARGV[5], 'n_host', ARGV[6], 'n_kind', ARGV[7],
    'n_signo', ARGV[8], 'n_value', ARGV[9])
  stamp_times(q, now_ns_text(), false)
  return { 'ok', 'set' }
end

-- notify_clear ID PTOKEN -> ok: only the owner's NULL removes it (and sets atime and ctime, as
-- do_mq_notify; anyone else's changes nothing).
local function op_notify_clear()
  local q = K.pq(ARGV[2])
  if drop_notification(q, ARGV[3] or '') then stamp_times(q, now_ns_text(), false) end
  return { 'ok' }
end

-- poll ID TOKEN WHO -> ok CURMSGS CHG: registers (or renews) the caller's process as a poller
-- of the queue ('p', TOKEN its process token, WHO as for send).
local function op_poll()
  local id = ARGV[2]
  local q = K.pq(id)
  CUR = id
  if redis.call('EXISTS', q) == 0 then return { 'EBADF' } end
  redis.call('HSET', q, 'polled', 1)
  register(q, ARGV[3], 'p', ARGV[4])
  -- Due scheduled messages enter first: a poll is one of the looks that promote them.
  local before = curmsgs(id)
  tidy(id)
  settle(id)
  local cur, chg = count_changed(id, before)
  return { 'ok', cur, chg }
end

-- reap ID TOKEN... -> ok: these waiters are gone (their connections closed): what they held
-- goes to the next waiters, as after STALE_MS.
local function op_reap()
  local id = ARGV[2]
  local q = K.pq(id)
  CUR = id
  if redis.call('EXISTS', q) == 0 then return { 'ok' } end
  for i = 3, #ARGV do
    local kind = redis.call('HGET', K.wk(q), ARGV[i])
    if kind then
      ON_STALE(ARGV[i], kind)
      unregister(q, ARGV[i])
    end
  end
  settle(id)
  return { 'ok' }
end

-- ---- administration (mqshim ipcs, stat, peek): read only, nothing created or changed -------

-- One queue as a listing shows it: {name, mode, uid, gid, maxmsg, msgsize}, then, when the
-- caller may read it (as mq_open O_RDONLY asks), {curmsgs, qsize, atime_ns, mtime_ns} (ctime
-- is atime: see stamp_times; '' for a queue made before they were kept), its pending scheduled
-- messages and, if a notification is
-- registered, its {kind, signo, pid, tid, host, ptoken} (the client tells whether its owner is
-- gone). A message handed to a waiting receiver is that receiver's already: not counted, its
-- bytes not in QSIZE, as the kernel's pipelined send never queues it.
local function listing_row(name, id, c)
  local m = redis.call('HMGET', K.pq(id), 'mode', 'uid', 'gid', 'maxmsg', 'msgsize', 'bytes', 'atime_ns', 'mtime_ns')
  if not m[1] then return nil end
  local row = { name, tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4]), tonumber(m[5]) }
  if not may_access_fs(row[2], row[3], row[4], 4, c) then return row end
  local qsize = tonumber(m[6] or '0')
  for _, seq in ipairs(redis.call('HKEYS', K.pq_asg(id))) do
    qsize = qsize - redis.call('HSTRLEN', K.pq_b(id), seq)
  end
  row[#row + 1] = curmsgs(id)
  row[#row + 1] = qsize
  row[#row + 1] = m[7] or ''
  row[#row + 1] = m[8] or ''
  row[#row + 1] = scheduled_count(K.pq(id))
  local n = redis.call('HMGET', K.pq(id), 'n_ptoken', 'n_kind', 'n_signo', 'n_pid', 'n_tid', 'n_host')
  if n[1] then
    for i = 2, 6 do row[#row + 1] = n[i] or '' end
    row[#row + 1] = n[1]
  end
  return row
end

-- list CALLER [NAME] -> ok {row} ...: every queue (listing_row), or only NAME (ENOENT).
local function op_list()
  local c = caller(ARGV[2])
  if ARGV[3] then
    local id = redis.call('HGET', K.pq_names, ARGV[3])
    local row = id and listing_row(ARGV[3], id, c)
    if not row then return { 'ENOENT' } end
    return { 'ok', row }
  end
  local out = { 'ok' }
  local names = redis.call('HGETALL', K.pq_names)
  for i = 1, #names, 2 do
    local row = listing_row(names[i], names[i + 1], c)
    if row then out[#out + 1] = row end
  end
  return out
end

-- peek NAME PREVIEW CALLER -> ok NOW MAXMSG N PRIO LEN FIRST-BYTES ENTERED ...: the server's
-- time, the queue's maxmsg, and the N messages in receive order, then the pending scheduled
-- messages (PRIO LEN FIRST-BYTES DUE), earliest due first (those handed to a waiting receiver left out, as listing_row)
-- with when each entered the queue (ns, '' if unknown), the caller needing read permission as
-- a receiver's mq_open does (ENOENT, EACCES).
local function op_peek()
  local id = redis.call('HGET', K.pq_names, ARGV[2])
  if not id then return { 'ENOENT' } end
  local m = redis.call('HMGET', K.pq(id), 'mode', 'uid', 'gid')
  if not m[1] then return { 'ENOENT' } end
  if not may_access_fs(tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), 4, caller(ARGV[4])) then return { 'EACCES' } end
  local preview = tonumber(ARGV[3])
  local out = { 'ok', now_ns_text(), tonumber(redis.call('HGET', K.pq(id), 'maxmsg')), 0 }
  for _, seq in ipairs(redis.call('ZRANGE', K.pq_m(id), 0, -1)) do
    if redis.call('HEXISTS', K.pq_asg(id), seq) == 0 then
      local body = redis.call('HGET', K.pq_b(id), seq) or ''
      local prio, at = props(id, seq)
      out[#out + 1] = prio
      out[#out + 1] = #body
      out[#out + 1] = string.sub(body, 1, preview)
      out[#out + 1] = at
      out[4] = out[4] + 1
    end
  end
  -- Then the pending scheduled messages, earliest due first, with their due times (ns).
  for _, s in ipairs(scheduled_list(K.pq(id))) do
    local prio, body = string.match(s[2], '^(%d+) %-?%d+ %d+ (.*)$')
    out[#out + 1] = tonumber(prio or '0')
    out[#out + 1] = #(body or '')
    out[#out + 1] = string.sub(body or '', 1, preview)
    out[#out + 1] = s[1]
  end
  return out
end

local ops = {
  reap = op_reap, openers = op_openers, sweep = op_sweep,
  open = op_open, close = op_close, adopt = op_adopt, unlink = op_unlink, send = op_send,
  receive = op_receive, attr = op_attr, notify_set = op_notify_set, notify_clear = op_notify_clear,
}
ops.list, ops.peek, ops.poll = op_list, op_peek, op_poll
ops.send_at, ops.unschedule = op_send_at, op_unschedule

-- The operations that may change a queue's count (ARGV[2] its id): on a polled queue, a change
-- wakes the pollers, and a send or receive that completes answers the count and 'chg' last.
if OP == 'send' or OP == 'receive' or OP == 'attr' or OP == 'reap' or OP == 'send_at' or OP == 'unschedule' then
  local before = count_if_polled(ARGV[2])
  local out = ops[OP]()
  if before then
    local cur, chg = count_changed(ARGV[2], before)
    if out[1] == 'ok' and out[2] ~= 'W' and (OP == 'send' or OP == 'receive') then
      out[#out + 1] = cur
      out[#out + 1] = chg
    end
  end
  return out
end
return ops[OP]()
