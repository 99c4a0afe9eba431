/* While a process is blocked in mq_receive on the empty queue, a message sent to the queue goes
 * straight to that receiver and the owner's notification does not fire — and it is not used
 * up: it stays registered (EBUSY), and the next message, sent when nobody is waiting, fires it
 * (from the parent's send as from another process's). */
#include "harness.h"

#define RT_SIG (SIGRTMIN + 3)

static int pending_notes(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    struct timespec zero = { 0, 0 };
    int n = 0;
    while (sigtimedwait(&set, NULL, &zero) == RT_SIG)
        n++;
    return n;
}

/* "label: N", a mismatch unless N is what the kernel gives. */
static void expect_count(const char *label, long got, long want)
{
    printf("%s: %ld", label, got);
    if (got != want) {
        t_failures++;
        printf("  !! MISMATCH: expected %ld", want);
    }
    printf("\n");
}

static void blocked_receiver(mqd_t q, t_child *c, t_chan *ready)
{
    *c = t_spawn();
    if (c->pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_post(ready);
        char buf[16];
        unsigned prio;
        long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 6);
        if (n >= 0)
            t_show_msg("blocked receiver got", buf, n, prio);
        exit(t_child_status());
    }
    t_chan_wait(ready);
    t_wait_blocked(c->pid);
}

int main(void)
{
    const char *name = t_qname("notifyblk");
    mqd_t q = t_mq_create("notifyblk", 4, 16, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, RT_SIG);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = RT_SIG };
    struct mq_attr attr;
    char buf[16];
    t_chan ready = t_chan_open();
    t_child c;

    t_say("-- the parent registers, a child blocks in mq_receive, the parent sends");
    EXPECT_EQ(mq_notify(q, &ev), 0);
    blocked_receiver(q, &c, &ready);
    EXPECT_EQ(mq_send(q, "direct", 6, 1), 0);
    expect_count("notifications right after the send", pending_notes(), 0);
    t_join(&c, 0);
    expect_count("notifications after the receiver finished", pending_notes(), 0);
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    expect_count("curmsgs", attr.mq_curmsgs, 0);
    t_say("the registration is still there:");
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    EXPECT_EQ(mq_send(q, "later", 5, 0), 0);
    expect_count("notifications after a send with nobody waiting", pending_notes(), 1);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 5);
    EXPECT_EQ(mq_notify(q, &ev), 0);            /* that used it up */

    t_say("-- the same with another process sending");
    t_chan sent = t_chan_open(), go = t_chan_open();
    blocked_receiver(q, &c, &ready);
    t_child s = t_spawn();
    if (s.pid == 0) {
        EXPECT_EQ(mq_send(q, "direct", 6, 2), 0);
        t_chan_post(&sent);
        t_chan_wait(&go);
        EXPECT_EQ(mq_send(q, "second", 6, 3), 0);
        t_chan_post(&sent);
        exit(t_child_status());
    }
    t_chan_wait(&sent);
    expect_count("notifications after the sender's first send", pending_notes(), 0);
    t_join(&c, 0);
    EXPECT_ERR(mq_notify(q, &ev), EBUSY);
    t_chan_post(&go);
    t_chan_wait(&sent);
    expect_count("notifications after the sender's second send", pending_notes(), 1);
    t_join(&s, 0);
    unsigned prio;
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 6);
    if (n >= 0)
        t_show_msg("parent got", buf, n, prio);
    EXPECT_EQ(mq_notify(q, &ev), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
