/* mqt: static */
/* A child blocked in msgrcv for type 2 is not woken by a type-1 message but takes the type-2
 * message the parent sends next; the type-1 message stays queued. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("blockrecv", 0600, NULL);
    t_chan ready = t_chan_open();

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg r;
        msgrcv(id, &r, sizeof r.mtext, 2, IPC_NOWAIT);   /* warm up (ENOMSG) */
        t_chan_post(&ready);
        long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 2, 0), 3);
        t_show_typed("received", r.mtext, n, r.mtype);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "one", 3);
    EXPECT_EQ(msgsnd(id, &m, 3, 0), 0);
    m.mtype = 2;
    memcpy(m.mtext, "two", 3);
    EXPECT_EQ(msgsnd(id, &m, 3, 0), 0);
    t_join(&c, 0);

    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("qnum after the exchange: %lu", (unsigned long)ds.msg_qnum);
    long n = EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 3);
    t_show_typed("left for the parent", m.mtext, n, m.mtype);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
