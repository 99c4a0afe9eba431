/* mqt: static */
/* A child blocked in mq_send on a full queue completes when the parent receives; its
 * message is then the next one in the queue. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("blocksend");
    mqd_t q = t_mq_create("blocksend", 1, 16, 0);
    t_chan ready = t_chan_open();
    EXPECT_EQ(mq_send(q, "first", 5, 1), 0);

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_post(&ready);
        EXPECT_EQ(mq_send(q, "second", 6, 2), 0);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    char buf[16];
    unsigned prio;
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 5);
    t_show_msg("parent received", buf, n, prio);
    t_join(&c, 0);

    n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 6);
    t_show_msg("parent received", buf, n, prio);
    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs after the exchange: %ld", attr.mq_curmsgs);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
