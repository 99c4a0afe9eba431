/* mqt: static */
/* IPC_RMID wakes every blocked caller of the queue at once with EIDRM: a receiver blocked in
 * msgrcv (waiting for a type nobody sends) and a sender blocked in msgsnd (the queue is full),
 * each in a process of its own. Afterwards the id is merely stale: EINVAL for everyone. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("eidrmboth", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = 4;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "full", 4);
    EXPECT_EQ(msgsnd(id, &m, 4, 0), 0);
    t_chan ready = t_chan_open();

    t_say("-- a receiver blocks for type 7");
    t_child rc = t_spawn();
    if (rc.pid == 0) {
        struct t_msg r;
        EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 7, IPC_NOWAIT), ENOMSG);   /* warm up */
        t_chan_post(&ready);
        EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 7, 0), EIDRM);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(rc.pid);

    t_say("-- a sender blocks on the full queue");
    t_child sc = t_spawn();
    if (sc.pid == 0) {
        struct t_msg mine = { .mtype = 2 };
        memcpy(mine.mtext, "x", 1);
        EXPECT_ERR(msgsnd(id, &mine, 1, IPC_NOWAIT), EAGAIN);            /* warm up */
        t_chan_post(&ready);
        EXPECT_ERR(msgsnd(id, &mine, 1, 0), EIDRM);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(sc.pid);

    t_say("-- the parent removes the queue");
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    t_join(&rc, 0);
    t_join(&sc, 0);

    struct t_msg r;
    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgctl(id, IPC_STAT, &ds), EINVAL);
    return t_finish();
}
