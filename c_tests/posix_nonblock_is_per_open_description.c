/* O_NONBLOCK belongs to the open description, not to the descriptor or the process: a forked
 * child shares the parent's description (it uses the inherited descriptor, and an O_NONBLOCK
 * set by either side with mq_setattr is what the other's mq_getattr and receives see), and a
 * dup() shares it too; a second mq_open of the same queue by the same process is a separate
 * description whose O_NONBLOCK is independent. An expired mq_timedreceive deadline tells the
 * two apart: EAGAIN on a non-blocking description, ETIMEDOUT on a blocking one. */
#include "harness.h"

static const char *flags_of(mqd_t q)
{
    struct mq_attr a;
    if (mq_getattr(q, &a) != 0)
        return t_errno_name(errno);
    return a.mq_flags == 0 ? "0" : a.mq_flags == O_NONBLOCK ? "O_NONBLOCK" : "other";
}

int main(void)
{
    const char *name = t_qname("nbdesc");
    mqd_t q = t_mq_create("nbdesc", 4, 16, 0);
    struct mq_attr nonblock = { .mq_flags = O_NONBLOCK }, blocking = { .mq_flags = 0 };
    char buf[16];
    unsigned prio;
    t_chan set = t_chan_open(), cleared = t_chan_open();

    t_say("-- fork: parent and child share the description");
    EXPECT_EQ(mq_send(q, "from-parent", 11, 1), 0);
    t_child c = t_spawn();
    if (c.pid == 0) {
        long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 11);
        if (n >= 0)
            t_show_msg("child received", buf, n, prio);
        EXPECT_EQ(mq_send(q, "from-child", 10, 2), 0);
        EXPECT_EQ(mq_setattr(q, &nonblock, NULL), 0);
        t_chan_post(&set);
        t_chan_wait(&cleared);
        t_say("child's flags after the parent cleared O_NONBLOCK: %s", flags_of(q));
        struct timespec past = t_deadline_ms(-1000);
        EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &past), ETIMEDOUT);
        exit(t_child_status());
    }
    t_chan_wait(&set);
    t_say("parent's flags after the child set O_NONBLOCK: %s", flags_of(q));
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 10);
    if (n >= 0)
        t_show_msg("parent received", buf, n, prio);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
    EXPECT_EQ(mq_setattr(q, &blocking, NULL), 0);
    t_chan_post(&cleared);
    t_join(&c, 0);

    t_say("-- dup shares the description");
    mqd_t d = (mqd_t)dup(q);
    T_REQUIRE(d >= 0);
    EXPECT_EQ(mq_setattr(d, &nonblock, NULL), 0);
    t_say("original's flags: %s", flags_of(q));
    EXPECT_EQ(mq_setattr(q, &blocking, NULL), 0);
    t_say("dup's flags: %s", flags_of(d));
    EXPECT_EQ(close(d), 0);

    t_say("-- a second mq_open is a separate description");
    mqd_t again = EXPECT_OK(mq_open(name, O_RDWR));
    EXPECT_EQ(mq_setattr(again, &nonblock, NULL), 0);
    t_say("second descriptor's flags: %s", flags_of(again));
    t_say("first descriptor's flags: %s", flags_of(q));
    struct timespec past = t_deadline_ms(-1000);
    EXPECT_ERR(mq_timedreceive(again, buf, sizeof buf, NULL, &past), EAGAIN);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &past), ETIMEDOUT);
    EXPECT_EQ(mq_setattr(q, &nonblock, NULL), 0);
    EXPECT_EQ(mq_setattr(again, &blocking, NULL), 0);
    t_say("after swapping: first %s, second %s", flags_of(q), flags_of(again));
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &past), EAGAIN);
    EXPECT_ERR(mq_timedreceive(again, buf, sizeof buf, NULL, &past), ETIMEDOUT);

    EXPECT_EQ(mq_close(again), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
