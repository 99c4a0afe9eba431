/* mqt: static */
/* SIGSTOP followed by SIGCONT (no handlers) while a child is blocked in mq_receive,
 * mq_timedreceive or mq_send is transparent: the call goes on waiting and completes normally
 * once the parent sends / receives; it never returns EINTR. */
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
    const char *name = t_qname("stopcont");
    mqd_t q = t_mq_create("stopcont", 1, 16, 0);
    t_chan ready = t_chan_open();
    char buf[16];
    unsigned prio;
    long n;

    t_say("-- mq_receive");
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_post(&ready);
        n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 3);
        if (n >= 0)
            t_show_msg("received", buf, n, prio);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    stop_and_continue(c.pid);
    EXPECT_EQ(mq_send(q, "one", 3, 1), 0);
    t_join(&c, 0);

    t_say("-- mq_timedreceive with a deadline 10 s away");
    c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);
        struct timespec deadline = t_deadline_ms(10000);
        t_chan_post(&ready);
        n = EXPECT_EQ(mq_timedreceive(q, buf, sizeof buf, &prio, &deadline), 3);
        if (n >= 0)
            t_show_msg("received", buf, n, prio);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    stop_and_continue(c.pid);
    EXPECT_EQ(mq_send(q, "two", 3, 2), 0);
    t_join(&c, 0);

    t_say("-- mq_send on a full queue");
    EXPECT_EQ(mq_send(q, "full", 4, 3), 0);
    c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);
        t_chan_post(&ready);
        EXPECT_EQ(mq_send(q, "four", 4, 4), 0);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    stop_and_continue(c.pid);
    n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 4);
    if (n >= 0)
        t_show_msg("parent received", buf, n, prio);
    t_join(&c, 0);
    n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 4);
    if (n >= 0)
        t_show_msg("parent received", buf, n, prio);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
