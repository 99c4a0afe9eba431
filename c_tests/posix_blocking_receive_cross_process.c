/* mqt: static */
/* A child blocked in mq_receive on an empty queue is woken by the parent's mq_send and gets
 * that message with its priority; nothing is left in the queue. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("blockrecv");
    mqd_t q = t_mq_create("blockrecv", 2, 16, 0);
    t_chan ready = t_chan_open();

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_post(&ready);
        char buf[16];
        unsigned prio;
        long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 4);
        t_show_msg("received", buf, n, prio);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    EXPECT_EQ(mq_send(q, "ping", 4, 3), 0);
    t_join(&c, 0);

    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs after the exchange: %ld", attr.mq_curmsgs);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
