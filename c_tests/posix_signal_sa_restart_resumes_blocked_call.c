/* mqt: static */
/* A handled signal interrupts a blocked mq_receive / mq_send; when the handler was installed
 * with SA_RESTART the call is restarted (it does not return EINTR) and later completes
 * normally: the receive with the message the parent sends after the handler ran, the send once
 * the parent makes room. The handler reports through a pipe, so the parent knows it ran before
 * it completes the exchange. */
#include "harness.h"

static int handler_fd = -1;
static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void)sig;
    char b = 1;
    handled++;
    if (write(handler_fd, &b, 1) < 0) { /* the parent would time out */ }
}

static void install_restarting_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    T_REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
}

/* Signal the blocked child, wait for its handler, and check that it blocks again. */
static void interrupt(pid_t pid, t_chan *handler)
{
    T_REQUIRE(kill(pid, SIGUSR1) == 0);
    t_chan_wait(handler);
    t_say("the child's SIGUSR1 handler ran");
    t_wait_blocked(pid);
}

int main(void)
{
    const char *name = t_qname("sarestart");
    mqd_t q = t_mq_create("sarestart", 1, 16, 0);
    char buf[16];
    unsigned prio;
    long n;

    t_say("-- mq_receive on an empty queue");
    t_chan ready = t_chan_open(), handler = t_chan_open();
    handler_fd = handler.wr;
    t_child c = t_spawn();
    if (c.pid == 0) {
        install_restarting_handler();
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_post(&ready);
        n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 5);
        if (n >= 0)
            t_show_msg("received", buf, n, prio);
        t_say("handler invocations: %d", (int)handled);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    interrupt(c.pid, &handler);
    EXPECT_EQ(mq_send(q, "hello", 5, 4), 0);
    t_join(&c, 0);

    t_say("-- mq_send on a full queue");
    EXPECT_EQ(mq_send(q, "full", 4, 1), 0);
    c = t_spawn();
    if (c.pid == 0) {
        install_restarting_handler();
        struct mq_attr attr;
        mq_getattr(q, &attr);
        t_chan_post(&ready);
        EXPECT_EQ(mq_send(q, "mine", 4, 2), 0);
        t_say("handler invocations: %d", (int)handled);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    interrupt(c.pid, &handler);
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
