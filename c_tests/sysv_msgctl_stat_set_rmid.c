/* mqt: static */
/* msgctl: IPC_STAT reports mode, counts, qbytes (msgmnb 16384), owner and the pids/times of
 * the last send and receive; IPC_SET changes mode and qbytes (raising qbytes above msgmnb is
 * EPERM without CAP_SYS_RESOURCE); IPC_RMID removes, after which the id is EINVAL. */
#include "harness.h"

static void show(int id, const char *label)
{
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0) {
        t_say("%s: IPC_STAT failed %s", label, t_errno_name(errno));
        return;
    }
    t_say("%s: mode %03o qnum %lu cbytes %lu qbytes %lu", label,
          (unsigned)ds.msg_perm.mode & 0777, (unsigned long)ds.msg_qnum,
          (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes);
    t_say("  uid/cuid = euid %s, gid/cgid = egid %s",
          ds.msg_perm.uid == geteuid() && ds.msg_perm.cuid == geteuid() ? "yes" : "no",
          ds.msg_perm.gid == getegid() && ds.msg_perm.cgid == getegid() ? "yes" : "no");
    t_say("  lspid %s, lrpid %s, stime %s, rtime %s, ctime set %s",
          ds.msg_lspid == 0 ? "0" : ds.msg_lspid == getpid() ? "self" : "other",
          ds.msg_lrpid == 0 ? "0" : ds.msg_lrpid == getpid() ? "self" : "other",
          ds.msg_stime == 0 ? "0" : "set", ds.msg_rtime == 0 ? "0" : "set",
          ds.msg_ctime != 0 ? "yes" : "no");
}

int main(void)
{
    key_t key;
    int id = t_msgget_new("ctl", 0640, &key);
    struct msqid_ds ds;

    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_check("msg_perm.__key is the key", ds.msg_perm.__key == key);
    show(id, "new queue");

    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "12345", 5);
    EXPECT_EQ(msgsnd(id, &m, 5, 0), 0);
    show(id, "after one send");

    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    ds.msg_perm.mode = 0600;
    ds.msg_qbytes = 100;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    show(id, "after IPC_SET mode 600 qbytes 100");

    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    ds.msg_qbytes = 16385;
    EXPECT_ERR(msgctl(id, IPC_SET, &ds), EPERM);

    struct t_msg r;
    EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, 0), 5);
    show(id, "after the receive");

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    EXPECT_ERR(msgctl(id, IPC_STAT, &ds), EINVAL);
    EXPECT_ERR(msgctl(id, IPC_RMID, NULL), EINVAL);
    return t_finish();
}
