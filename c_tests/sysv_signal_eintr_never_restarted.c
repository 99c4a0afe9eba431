/* mqt: static */
/* A blocked msgrcv or msgsnd interrupted by a signal handler fails with EINTR — even when the
 * handler was installed with SA_RESTART (the kernel never restarts these two, unlike mq_*
 * calls and read()). The interrupted receive consumes nothing; the interrupted send queues
 * nothing. */
#include "harness.h"

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void)sig;
    handled++;
}

static void install_handler(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    T_REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
}

static void show_queue(int id)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    t_say("queue: qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
}

/* Runs `op` in a child with a SIGUSR1 handler (`flags`), interrupts it once it blocks. */
static void interrupt_child(int id, int flags, int sending, const char *label)
{
    t_chan ready = t_chan_open();
    t_say("-- %s, handler %s", label, flags & SA_RESTART ? "with SA_RESTART" : "without SA_RESTART");
    t_child c = t_spawn();
    if (c.pid == 0) {
        install_handler(flags);
        struct t_msg m = { .mtype = 2 };
        memcpy(m.mtext, "lost", 4);
        if (sending) {
            EXPECT_ERR(msgsnd(id, &m, 4, IPC_NOWAIT), EAGAIN);   /* warm up: full */
            t_chan_post(&ready);
            EXPECT_ERR(msgsnd(id, &m, 4, 0), EINTR);
        } else {
            EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 2, IPC_NOWAIT), ENOMSG);
            t_chan_post(&ready);
            EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 2, 0), EINTR);
        }
        t_say("handler invocations: %d", (int)handled);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    T_REQUIRE(kill(c.pid, SIGUSR1) == 0);
    t_join(&c, 0);
    show_queue(id);
}

int main(void)
{
    int id = t_msgget_new("eintr", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = 8;
    EXPECT_EQ(msgctl(id, IPC_SET, &ds), 0);

    interrupt_child(id, SA_RESTART, 0, "msgrcv for type 2 on an empty queue");
    interrupt_child(id, 0, 0, "msgrcv for type 2 on an empty queue");

    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "12345678", 8);
    EXPECT_EQ(msgsnd(id, &m, 8, 0), 0);
    interrupt_child(id, SA_RESTART, 1, "msgsnd on a full queue");
    interrupt_child(id, 0, 1, "msgsnd on a full queue");

    t_say("-- nothing was taken or added");
    struct t_msg r;
    long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 8);
    t_show_typed("parent received", r.mtext, n, r.mtype);
    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), ENOMSG);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
