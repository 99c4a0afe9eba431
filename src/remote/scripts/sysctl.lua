-- The namespace's sysctls (remote/sysctl.rs): K.sysctl, key -> value as written through /proc,
-- and msg_next_id while it is set (the next creating msgget takes and clears it: sysv.lua).
-- ARGV[1] = operation, ARGV[2] = the limits the caller states (see limits_in_force).
--   get                -> ok, then key value for each stated key (in force for the caller),
--                         then msg_next_id (-1: unset)
--   set KEY VALUE      -> as get, after setting KEY. The caller checked that it may (root;
--                         msg_next_id: CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) and parsed the
--                         value with the kernel's rules and range (emu::sysctl), so it is stored
--                         as given.
local op, stated = ARGV[1], ARGV[2]
if op == 'set' then
  redis.call('HSET', K.sysctl, ARGV[3], ARGV[4])
elseif op ~= 'get' then
  return { 'EINVAL' }
end
local l = limits_in_force(stated)
local out = { 'ok' }
for k in string.gmatch(stated, '!?([%w_]+)=') do
  out[#out + 1] = k
  out[#out + 1] = l[k]
end
out[#out + 1] = tonumber(redis.call('HGET', K.sysctl, 'msg_next_id') or '-1')
return out
