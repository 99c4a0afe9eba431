/* msgmax = 512 (the kernel in a fresh IPC namespace with /proc/sys/kernel/msgmax 512; mqshim
 * with MQSHIM_LIMITS=msgmax=512): msgsnd of 511 and 512 bytes succeeds, 513 is EINVAL — also
 * with IPC_NOWAIT and on a queue with room, so it is the size, not the space — and nothing is
 * queued by the failed send. The messages come back whole. IPC_INFO reports msgmax 512 (and
 * the untouched msgmnb and msgmni defaults, 16384 and 32000). */
#include "harness.h"
#include "mqt_limits.h"

static void body(void)
{
    int id = t_msgget_new("msgmax", 0600, NULL);
    static struct { long mtype; char mtext[1024]; } m;
    m.mtype = 1;
    memset(m.mtext, 'x', sizeof m.mtext);
    EXPECT_EQ(msgsnd(id, &m, 511, 0), 0);
    EXPECT_EQ(msgsnd(id, &m, 512, 0), 0);
    EXPECT_ERR(msgsnd(id, &m, 513, 0), EINVAL);
    EXPECT_ERR(msgsnd(id, &m, 513, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgsnd(id, &m, 1024, IPC_NOWAIT), EINVAL);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("qnum %lu cbytes %lu qbytes %lu", (unsigned long)ds.msg_qnum,
          (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes);
    EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 511);
    EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 512);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), ENOMSG);

    struct msginfo info;
    memset(&info, 0, sizeof info);
    EXPECT_OK(msgctl(0, IPC_INFO, (struct msqid_ds *)&info));
    t_say("IPC_INFO: msgmax %d msgmnb %d msgmni %d", info.msgmax, info.msgmnb, info.msgmni);
    t_check("IPC_INFO msgmax is 512", info.msgmax == 512);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = { { "msgmax=512", body, LIM_UNPRIVILEGED } };
    return lim_main(argc, argv, phases, 1);
}
