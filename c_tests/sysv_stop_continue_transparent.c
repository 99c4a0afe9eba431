/* mqt: static */
/* SIGSTOP then SIGCONT (no handlers) while a child is blocked in msgrcv or msgsnd is invisible:
 * the call goes on waiting and completes normally once the parent sends or receives — it never
 * fails with EINTR (the kernel restarts the sleep transparently when no handler ran). */
#include "harness.h"

/* Poll /proc/PID/stat until the state letter is `want` (bounded to 5 s). */
static void wait_state(pid_t pid, char want, const char *label)
{
    for (int i = 0; i < 5000; i++) {
        if (t_proc_state(pid) == want) {
            t_say("%s", label);
            return;
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    t_failures++;
    t_say("%s -> NO (state never '%c')  !! MISMATCH", label, want);
}

static void stop_and_continue(pid_t pid)
{
    T_REQUIRE(kill(pid, SIGSTOP) == 0);
    wait_state(pid, 'T', "child is stopped");
    T_REQUIRE(kill(pid, SIGCONT) == 0);
    t_wait_blocked(pid);
}

int main(void)
{
    int id = t_msgget_new("stopcont", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = 4;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);
    t_chan ready = t_chan_open();
    struct t_msg m = { .mtype = 1 }, r;
    long n;

    t_say("-- msgrcv");
    t_child c = t_spawn();
    if (c.pid == 0) {
        msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT);      /* warm up (ENOMSG) */
        t_chan_post(&ready);
        n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, 0), 3);
        if (n >= 0)
            t_show_typed("received", r.mtext, n, r.mtype);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    stop_and_continue(c.pid);
    memcpy(m.mtext, "one", 3);
    EXPECT_EQ(msgsnd(id, &m, 3, 0), 0);
    t_join(&c, 0);

    t_say("-- msgsnd on a full queue");
    memcpy(m.mtext, "full", 4);
    EXPECT_EQ(msgsnd(id, &m, 4, 0), 0);
    c = t_spawn();
    if (c.pid == 0) {
        struct t_msg mine = { .mtype = 2 };
        memcpy(mine.mtext, "two", 3);
        msgsnd(id, &mine, 3, IPC_NOWAIT);                    /* warm up (EAGAIN) */
        t_chan_post(&ready);
        EXPECT_EQ(msgsnd(id, &mine, 3, 0), 0);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    stop_and_continue(c.pid);
    n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, 0), 4);
    t_show_typed("parent received", r.mtext, n, r.mtype);
    t_join(&c, 0);
    n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 3);
    t_show_typed("parent received", r.mtext, n, r.mtype);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
