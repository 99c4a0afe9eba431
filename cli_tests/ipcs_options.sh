#!/usr/bin/env bash
# `mqshim ipcs` takes util-linux ipcs's habits: -q (System V only), --posix (POSIX only), -p
# (pids), -t (times), -c (creator/owner), -u (summary), -i ID (one System V queue), -l (the
# limits in force, as `mqshim limits` computes them) and --json (parsed here with a JSON parser).
source "$ROOT/cli_tests/ipcs_common.bash"
NAME=/ipcs-opt-$RUNID
make_queues "$NAME"
ME=$(id -un)

# The default: both APIs, readable.
expect_status 0 "$MQSHIM" --dir "$NS" ipcs
expect_output '^------ POSIX Message Queues'
expect_output "^$NAME +$ME +640 +5 +64 +2 +0 +11 +0 +0 +0$"
expect_output '^------ Message Queues \(emulated System V'
expect_output "^$(printf '0x%08x' "$KEY") +$MSQID +$ME +600 +12 +3 +0$"

# -q: System V alone; --posix: POSIX alone.
expect_status 0 "$MQSHIM" --dir "$NS" ipcs -q
expect_output "^$(printf '0x%08x' "$KEY") +$MSQID "
! grep -q -- "$NAME" "$WORK/out" || fail "ipcs -q lists POSIX queues"
expect_status 0 "$MQSHIM" --dir "$NS" ipcs --posix
expect_output "^$NAME "
! grep -q 'System V' "$WORK/out" || fail "ipcs --posix lists System V queues"
expect_status 2 "$MQSHIM" --dir "$NS" ipcs -q --posix

# -p: lspid is the sender, lrpid none yet; the POSIX queue has no notification owner.
expect_status 0 "$MQSHIM" --dir "$NS" ipcs -p
expect_output '^msqid +owner +lspid +lrpid'
expect_output "^$MSQID +$ME +$MAKER_PID +0 *$"
expect_output "^$NAME +$ME +0$"

# -t: sent, never received, changed at creation.
expect_status 0 "$MQSHIM" --dir "$NS" ipcs -q -t
expect_output '^msqid +owner +send +recv +change'
expect_output "^$MSQID +$ME +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +Not set +[0-9]{4}-"

# -c: perms and the creator's and owner's ids.
expect_status 0 "$MQSHIM" --dir "$NS" ipcs -c
U=$(id -u) G=$(id -g)
expect_output "^$MSQID +600 +$U +$G +$U +$G *$"
expect_output "^$NAME +640 +$U +$G +$U +$G *$"

# -u: totals per API.
expect_status 0 "$MQSHIM" --dir "$NS" ipcs -u
expect_output '^allocated queues = 1$'
expect_output '^used headers = 3$'
expect_output '^used space = 12 bytes$'
expect_output '^messages = 2$'
expect_output '^used space = 11 bytes$'
json_check 'j["posix"]=={"queues":1,"messages":2,"bytes":11} and j["sysv"]=={"queues":1,"messages":3,"bytes":12}' "$MQSHIM" --dir "$NS" ipcs -u --json

# -i ID: one queue in detail; an unknown id is an error naming it.
expect_status 0 "$MQSHIM" --dir "$NS" ipcs -i "$MSQID"
expect_output "^Message Queue msqid=$MSQID$"
expect_output "^cbytes=12.qbytes=16384.qnum=3.lspid=$MAKER_PID.lrpid=0$"
expect_output "^uid=$(id -u).gid=$(id -g).cuid=$(id -u).cgid=$(id -g).mode=0600$"
expect_output '^rcv_time=Not set$'
expect_status 1 "$MQSHIM" --dir "$NS" ipcs -i 99999999
expect_output 'id 99999999: no System V queue'

# --json: stable field names.
json_check "j['namespace']=='$NS' and [q['name'] for q in j['posix']]==['$NAME'] and j['posix'][0]['messages']==2 and j['posix'][0]['qsize']==11 and j['posix'][0]['maxmsg']==5 and j['posix'][0]['msgsize']==64 and j['posix'][0]['perms']=='0640' and j['posix'][0]['notify_pid']==0" \
  "$MQSHIM" --dir "$NS" ipcs --json
json_check "len(j['sysv'])==1 and j['sysv'][0]['id']==$MSQID and j['sysv'][0]['key']==$KEY and j['sysv'][0]['messages']==3 and j['sysv'][0]['used_bytes']==12 and j['sysv'][0]['lspid']==$MAKER_PID and j['sysv'][0]['lrpid']==0 and j['sysv'][0]['rtime']==0 and j['sysv'][0]['stime']>0 and j['sysv'][0]['uid']==$U and j['sysv'][0]['cuid']==$U" \
  "$MQSHIM" --dir "$NS" ipcs --json
json_check "'posix' not in j and len(j['sysv'])==1" "$MQSHIM" --dir "$NS" ipcs -q --json
json_check "'sysv' not in j and len(j['posix'])==1" "$MQSHIM" --dir "$NS" ipcs --posix --json
json_check "j['sysv'][0]['id']==$MSQID" "$MQSHIM" --dir "$NS" ipcs -i "$MSQID" --json

# -l: the limits in force, as `mqshim limits` computes them from the environment.
export MQSHIM_LIMITS=msg_max=64,msgsize_max=1k,msgmnb=4096
json_check 'j["limits"]["msg_max"]==64 and j["limits"]["msgsize_max"]==1024 and j["limits"]["msgmnb"]==4096' "$MQSHIM" --dir "$NS" ipcs -l --json
"$MQSHIM" limits >"$WORK/limits" || fail "mqshim limits failed"
python3 - "$WORK/json" "$WORK/limits" <<'PY' || fail "ipcs -l and mqshim limits disagree"
import json, sys
j = json.load(open(sys.argv[1]))["limits"]
table = {l.split()[0]: l.split()[1] for l in open(sys.argv[2]).read().splitlines()[1:]}
bad = [k for k, v in j.items() if k in table and str(v) != table[k]]
missing = [k for k in j if k not in table]
print("differ:", bad, "not in mqshim limits:", missing)
sys.exit(1 if bad or missing else 0)
PY
expect_status 0 "$MQSHIM" --dir "$NS" ipcs -l
expect_output '^max messages per queue = 64$'
expect_output '^default max size of queue \(bytes\) = 4096$'
unset MQSHIM_LIMITS
exit 0
