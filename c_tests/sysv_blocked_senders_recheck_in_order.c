/* mqt: static */
/* When a receive makes room, the blocked senders are re-checked in the order they blocked
 * (the kernel's ss_wakeup): each whose message now fits goes ahead; one whose message still
 * does not fit is passed over (moved to the tail) and keeps waiting — so a smaller message
 * that blocked later can overtake a larger one. qbytes 8; the queue holds two 4-byte messages;
 * S1 blocks with 8 bytes, then S2 with 4. */
#include "harness.h"

static void wait_qnum(int id, unsigned long want)
{
    struct msqid_ds ds;
    for (int i = 0; i < 5000; i++) {
        T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
        if (ds.msg_qnum == want) {
            t_say("queue holds %lu messages", want);
            return;
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    t_failures++;
    t_say("queue never held %lu messages  !! MISMATCH", want);
}

static t_child sender(int id, t_chan *ready, long type, const char *text)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg m = { .mtype = type };
        size_t len = strlen(text);
        memcpy(m.mtext, text, len);
        msgsnd(id, &m, len, IPC_NOWAIT);                 /* warm up (EAGAIN) */
        t_chan_post(ready);
        EXPECT_EQ(msgsnd(id, &m, len, 0), 0);
        exit(t_child_status());
    }
    t_chan_wait(ready);
    t_wait_blocked(c.pid);
    return c;
}

static void receive(int id)
{
    struct t_msg r;
    long n = msgrcv(id, &r, sizeof r.mtext, 0, 0);
    if (n < 0) {
        t_failures++;
        t_say("msgrcv -> -1 %s  !! MISMATCH", t_errno_name(errno));
        return;
    }
    t_show_typed("received", r.mtext, n, r.mtype);
}

int main(void)
{
    int id = t_msgget_new("sendorder", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = 8;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "m1m1", 4);
    EXPECT_EQ(msgsnd(id, &m, 4, 0), 0);
    memcpy(m.mtext, "m2m2", 4);
    EXPECT_EQ(msgsnd(id, &m, 4, 0), 0);
    t_chan ready = t_chan_open();

    t_say("-- S1 blocks with 8 bytes, then S2 with 4");
    t_child s1 = sender(id, &ready, 2, "S1S1S1S1");
    t_child s2 = sender(id, &ready, 3, "S2S2");

    t_say("-- one receive: 4 bytes free; S1 does not fit, S2 does");
    receive(id);
    wait_qnum(id, 2);
    t_join(&s2, 0);
    t_check("S1 still blocked", t_proc_state(s1.pid) == 'S');

    t_say("-- the rest, in order");
    receive(id);
    receive(id);
    receive(id);
    t_join(&s1, 0);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
