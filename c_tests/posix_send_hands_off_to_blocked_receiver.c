/* Pipelined send: when a receiver is blocked, mq_send hands the message straight to it. The
 * message never enters the queue: right after mq_send returns, a non-blocking receive on
 * another descriptor of the queue is EAGAIN and mq_getattr shows mq_curmsgs 0, even though the
 * receiver may not have run yet. The blocked receiver then reports the message. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("handoff");
    mqd_t q = t_mq_create("handoff", 4, 16, 0);
    mqd_t nb = EXPECT_OK(mq_open(name, O_RDONLY | O_NONBLOCK));
    t_chan ready = t_chan_open();

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_post(&ready);
        char buf[16];
        unsigned prio;
        long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 7);
        if (n >= 0)
            t_show_msg("received", buf, n, prio);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);

    EXPECT_EQ(mq_send(q, "handoff", 7, 5), 0);
    char buf[16];
    EXPECT_ERR(mq_receive(nb, buf, sizeof buf, NULL), EAGAIN);
    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(nb, &attr), 0);
    t_say("curmsgs right after the send: %ld", attr.mq_curmsgs);

    t_join(&c, 0);
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs after the exchange: %ld", attr.mq_curmsgs);
    EXPECT_EQ(mq_close(nb), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
