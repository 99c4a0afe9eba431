/* msgmnb = 1024 (the kernel in a fresh IPC namespace with /proc/sys/kernel/msgmnb 1024; mqshim
 * with MQSHIM_LIMITS=msgmnb=1024): a new queue's msg_qbytes is 1024. Without
 * CAP_SYS_RESOURCE, IPC_SET to 1025 is EPERM (the queue keeps 1024), to 1024 or below is
 * allowed, and back up to 1024 from below too (only "above msgmnb" needs the capability, not
 * "raising"). Sends filling exactly 1024 bytes succeed; then a 1-byte send with IPC_NOWAIT is
 * EAGAIN, while a 0-byte one still fits (the kernel's test is cbytes + size <= qbytes and
 * qnum + 1 <= qbytes). IPC_SET may lower qbytes below what is queued (24 bytes, qbytes 20):
 * nothing fits until a receive makes room, then exactly up to the new qbytes; and qbytes 20
 * holds at most 20 messages, even empty ones. IPC_INFO reports msgmnb 1024. */
#include "harness.h"
#include "mqt_limits.h"

static void stat_line(int id)
{
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("qbytes %lu qnum %lu cbytes %lu", (unsigned long)ds.msg_qbytes,
          (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
}

static int set_qbytes(int id, unsigned long qbytes)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = qbytes;
    return msgctl(id, IPC_SET, &ds);
}

static void body(void)
{
    int id = t_msgget_new("msgmnb", 0600, NULL);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_check("a new queue's msg_qbytes is msgmnb (1024)", ds.msg_qbytes == 1024);

    t_say("-- IPC_SET around msgmnb");
    EXPECT_ERR(set_qbytes(id, 1025), EPERM);
    EXPECT_ERR(set_qbytes(id, 16384), EPERM);
    stat_line(id);
    EXPECT_EQ(set_qbytes(id, 1024), 0);
    EXPECT_EQ(set_qbytes(id, 512), 0);
    stat_line(id);
    EXPECT_ERR(set_qbytes(id, 1025), EPERM);
    EXPECT_EQ(set_qbytes(id, 1024), 0);
    stat_line(id);

    t_say("-- filling exactly msgmnb bytes");
    static struct { long mtype; char mtext[1024]; } m;
    m.mtype = 1;
    memset(m.mtext, 'b', sizeof m.mtext);
    EXPECT_EQ(msgsnd(id, &m, 1000, IPC_NOWAIT), 0);
    EXPECT_EQ(msgsnd(id, &m, 23, IPC_NOWAIT), 0);
    EXPECT_EQ(msgsnd(id, &m, 1, IPC_NOWAIT), 0);
    stat_line(id);
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EAGAIN);
    EXPECT_EQ(msgsnd(id, &m, 0, IPC_NOWAIT), 0);
    stat_line(id);

    t_say("-- qbytes lowered below what is queued");
    EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 1000);
    EXPECT_EQ(set_qbytes(id, 20), 0);
    stat_line(id);
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EAGAIN);
    EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 23);
    EXPECT_EQ(msgsnd(id, &m, 19, IPC_NOWAIT), 0);
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EAGAIN);
    stat_line(id);

    t_say("-- qbytes also bounds the number of messages");
    for (int i = 0; i < 3; i++)
        EXPECT_OK(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT));
    int sent = 0;
    for (int i = 0; i < 20; i++)
        if (msgsnd(id, &m, 0, IPC_NOWAIT) == 0)
            sent++;
    t_say("sent %d empty messages", sent);
    EXPECT_ERR(msgsnd(id, &m, 0, IPC_NOWAIT), EAGAIN);
    stat_line(id);

    struct msginfo info;
    memset(&info, 0, sizeof info);
    EXPECT_OK(msgctl(0, IPC_INFO, (struct msqid_ds *)&info));
    t_say("IPC_INFO: msgmax %d msgmnb %d msgmni %d", info.msgmax, info.msgmnb, info.msgmni);
    t_check("IPC_INFO msgmnb is 1024", info.msgmnb == 1024);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = { { "msgmnb=1024", body, LIM_UNPRIVILEGED } };
    return lim_main(argc, argv, phases, 1);
}
