/* mqt: static */
/* A child blocked in msgsnd on a full queue (qbytes 8) completes when the parent receives;
 * its message then follows in FIFO order. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("blocksend", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = 8;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    t_chan ready = t_chan_open();

    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "12345678", 8);
    EXPECT_EQ(msgsnd(id, &m, 8, 0), 0);

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg mine = { .mtype = 2 };
        memcpy(mine.mtext, "child", 5);
        EXPECT_ERR(msgsnd(id, &mine, 5, IPC_NOWAIT), EAGAIN);   /* full; also warms up */
        t_chan_post(&ready);
        EXPECT_EQ(msgsnd(id, &mine, 5, 0), 0);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    struct t_msg r;
    long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, 0), 8);
    t_show_typed("parent received", r.mtext, n, r.mtype);
    t_join(&c, 0);
    n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 5);
    t_show_typed("parent received", r.mtext, n, r.mtype);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
