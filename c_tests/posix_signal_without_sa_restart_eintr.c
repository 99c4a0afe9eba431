/* mqt: static */
/* A signal whose handler was installed without SA_RESTART makes a blocked mq_receive or
 * mq_send fail with EINTR after the handler ran. The interrupted send leaves nothing in the
 * queue; the interrupted receive consumes nothing. */
#include "harness.h"

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void)sig;
    handled++;
}

static void install_plain_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    T_REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
}

static void show_curmsgs(mqd_t q)
{
    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs: %ld", attr.mq_curmsgs);
}

int main(void)
{
    const char *name = t_qname("eintr");
    mqd_t q = t_mq_create("eintr", 1, 16, 0);
    char buf[16];
    unsigned prio;
    t_chan ready = t_chan_open();

    t_say("-- mq_receive on an empty queue");
    t_child c = t_spawn();
    if (c.pid == 0) {
        install_plain_handler();
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_post(&ready);
        EXPECT_ERR(mq_receive(q, buf, sizeof buf, &prio), EINTR);
        t_say("handler invocations: %d", (int)handled);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    T_REQUIRE(kill(c.pid, SIGUSR1) == 0);
    t_join(&c, 0);
    EXPECT_EQ(mq_send(q, "kept", 4, 0), 0);
    show_curmsgs(q);

    t_say("-- mq_send on a full queue");
    c = t_spawn();
    if (c.pid == 0) {
        install_plain_handler();
        struct mq_attr attr;
        mq_getattr(q, &attr);
        t_chan_post(&ready);
        EXPECT_ERR(mq_send(q, "lost", 4, 9), EINTR);
        t_say("handler invocations: %d", (int)handled);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    T_REQUIRE(kill(c.pid, SIGUSR1) == 0);
    t_join(&c, 0);
    show_curmsgs(q);
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 4);
    if (n >= 0)
        t_show_msg("parent received", buf, n, prio);
    show_curmsgs(q);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
