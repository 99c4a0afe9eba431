/* Two children block in mq_receive on one empty queue; the parent then sends two messages of
 * the same priority. The child that blocked first gets the first message: the kernel serves
 * waiters FIFO among tasks of equal scheduling priority. The children are forked in the
 * opposite order to the one in which they block, so the outcome follows the blocking order,
 * not the fork order or the pids. */
#include "harness.h"

static t_child receiver(mqd_t q, t_chan *go, t_chan *ready)
{
    t_child c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */
        t_chan_wait(go);
        t_chan_post(ready);
        char buf[16];
        unsigned prio;
        long n = EXPECT_OK(mq_receive(q, buf, sizeof buf, &prio));
        if (n >= 0)
            t_show_msg("received", buf, n, prio);
        exit(t_child_status());
    }
    return c;
}

int main(void)
{
    const char *name = t_qname("waitfifo");
    mqd_t q = t_mq_create("waitfifo", 4, 16, 0);
    t_chan go_a = t_chan_open(), go_b = t_chan_open();
    t_chan ready_a = t_chan_open(), ready_b = t_chan_open();

    t_child a = receiver(q, &go_a, &ready_a);   /* forked first, blocks second */
    t_child b = receiver(q, &go_b, &ready_b);   /* forked second, blocks first */

    t_say("child B blocks first:");
    t_chan_post(&go_b);
    t_chan_wait(&ready_b);
    t_wait_blocked(b.pid);
    t_say("then child A:");
    t_chan_post(&go_a);
    t_chan_wait(&ready_a);
    t_wait_blocked(a.pid);

    EXPECT_EQ(mq_send(q, "first", 5, 7), 0);
    EXPECT_EQ(mq_send(q, "second", 6, 7), 0);

    t_say("child A (blocked second):");
    t_join(&a, 0);
    t_say("child B (blocked first):");
    t_join(&b, 0);

    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs after the exchange: %ld", attr.mq_curmsgs);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
