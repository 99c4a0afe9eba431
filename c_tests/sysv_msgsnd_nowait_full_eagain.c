/* mqt: static */
/* A full SysV queue: with IPC_NOWAIT msgsnd fails with EAGAIN. A message fits iff
 * cbytes + size <= qbytes and qnum + 1 <= qbytes: so a zero-length message still fits when
 * the bytes are used up, and qbytes also caps the number of messages (qbytes 3 holds three
 * empty ones). */
#include "harness.h"

static void set_qbytes(int id, unsigned long qbytes)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = qbytes;
    T_REQUIRE(msgctl(id, IPC_SET, &ds) == 0);
    t_say("qbytes set to %lu", qbytes);
}

int main(void)
{
    int id = t_msgget_new("full", 0600, NULL);
    struct t_msg m = { .mtype = 1 };
    memset(m.mtext, 'f', sizeof m.mtext);

    set_qbytes(id, 10);
    EXPECT_EQ(msgsnd(id, &m, 6, IPC_NOWAIT), 0);
    EXPECT_ERR(msgsnd(id, &m, 5, IPC_NOWAIT), EAGAIN);
    EXPECT_EQ(msgsnd(id, &m, 4, IPC_NOWAIT), 0);
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EAGAIN);
    EXPECT_EQ(msgsnd(id, &m, 0, IPC_NOWAIT), 0);

    struct t_msg r;
    EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 6);
    EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 4);
    EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 0);

    set_qbytes(id, 3);
    EXPECT_EQ(msgsnd(id, &m, 0, IPC_NOWAIT), 0);
    EXPECT_EQ(msgsnd(id, &m, 0, IPC_NOWAIT), 0);
    EXPECT_EQ(msgsnd(id, &m, 0, IPC_NOWAIT), 0);
    EXPECT_ERR(msgsnd(id, &m, 0, IPC_NOWAIT), EAGAIN);

    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
