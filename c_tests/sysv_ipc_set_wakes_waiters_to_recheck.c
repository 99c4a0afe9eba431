/* mqt: static */
/* IPC_SET wakes every blocked caller to look again, as the kernel does (expunge_all(-EAGAIN)
 * and ss_wakeup): a sender blocked on a full queue completes as soon as qbytes is raised (no
 * receive needed); a receiver blocked as nobody fails with EACCES once the mode no longer lets
 * it read; a receiver that may still read goes on waiting and gets the next message. */
#include "harness.h"

static void set_perm(int id, int mode, unsigned long qbytes)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_perm.mode = (unsigned short)mode;
    ds.msg_qbytes = qbytes;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    t_say("IPC_SET mode %04o qbytes %lu", mode, qbytes);
}

int main(void)
{
    int id = t_msgget_new("setwake", 0666, NULL);
    t_chan ready = t_chan_open();
    struct t_msg m = { .mtype = 1 }, r;
    long n;

    t_say("-- a sender blocked on a full queue");
    set_perm(id, 0666, 4);
    memcpy(m.mtext, "full", 4);
    EXPECT_EQ(msgsnd(id, &m, 4, 0), 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg mine = { .mtype = 2 };
        memcpy(mine.mtext, "more", 4);
        msgsnd(id, &mine, 4, IPC_NOWAIT);                  /* warm up (EAGAIN) */
        t_chan_post(&ready);
        EXPECT_EQ(msgsnd(id, &mine, 4, 0), 0);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    set_perm(id, 0666, 8);
    t_join(&c, 0);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("queue: qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
    while (msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT) >= 0)
        ;

    t_say("-- receivers blocked as nobody (mode 0666) and as root");
    t_child nb = t_spawn();
    if (nb.pid == 0) {
        t_become(T_NOBODY);
        msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT);     /* warm up (ENOMSG) */
        t_chan_post(&ready);
        EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 0, 0), EACCES);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(nb.pid);
    t_child rt = t_spawn();
    if (rt.pid == 0) {
        msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT);
        t_chan_post(&ready);
        n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, 0), 5);
        if (n >= 0)
            t_show_typed("root's receiver got", r.mtext, n, r.mtype);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(rt.pid);
    set_perm(id, 0600, 16384);
    t_join(&nb, 0);
    t_wait_blocked(rt.pid);
    memcpy(m.mtext, "later", 5);
    EXPECT_EQ(msgsnd(id, &m, 5, 0), 0);
    t_join(&rt, 0);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
