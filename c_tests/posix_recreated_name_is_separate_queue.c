/* mqt: static */
/* Queue lifetime across mq_unlink: the name goes at once (mq_open without O_CREAT is ENOENT),
 * the open descriptor keeps working on the unlinked queue, and O_CREAT|O_EXCL of the same name
 * then makes a new, separate, empty queue — messages sent through either descriptor are seen
 * only through that queue's descriptors, and a fresh mq_open of the name reaches the new one.
 * Unlinking twice is ENOENT the second time. */
#include "harness.h"

static void show(const char *label, mqd_t mqd)
{
    struct mq_attr a;
    EXPECT_EQ(mq_getattr(mqd, &a), 0);
    t_say("%s: maxmsg %ld msgsize %ld curmsgs %ld", label, a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
}

static void receive(const char *label, mqd_t mqd)
{
    char buf[16];
    unsigned prio;
    long n = EXPECT_OK(mq_receive(mqd, buf, sizeof buf, &prio));
    if (n >= 0)
        t_show_msg(label, buf, n, prio);
}

int main(void)
{
    const char *name = t_qname("recreate");
    mqd_t old = t_mq_create("recreate", 4, 16, O_NONBLOCK);
    EXPECT_EQ(mq_send(old, "old-1", 5, 1), 0);

    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_ERR(mq_open(name, O_RDONLY), ENOENT);
    EXPECT_ERR(mq_open(name, O_RDWR | O_NONBLOCK), ENOENT);
    EXPECT_EQ(mq_send(old, "old-2", 5, 1), 0);
    receive("old descriptor after unlink", old);

    struct mq_attr attr = { .mq_maxmsg = 3, .mq_msgsize = 16 };
    mqd_t fresh = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr));
    show("new queue", fresh);
    show("old queue", old);

    EXPECT_EQ(mq_send(fresh, "new-1", 5, 2), 0);
    receive("old descriptor", old);
    char buf[16];
    EXPECT_ERR(mq_receive(old, buf, sizeof buf, NULL), EAGAIN);
    EXPECT_EQ(mq_send(old, "old-3", 5, 3), 0);
    receive("new descriptor", fresh);
    EXPECT_ERR(mq_receive(fresh, buf, sizeof buf, NULL), EAGAIN);

    mqd_t by_name = EXPECT_OK(mq_open(name, O_WRONLY));
    EXPECT_EQ(mq_send(by_name, "by-name", 7, 4), 0);
    show("new queue after a send through a fresh mq_open", fresh);
    show("old queue", old);
    receive("new descriptor", fresh);
    receive("old descriptor", old);

    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_ERR(mq_unlink(name), ENOENT);
    EXPECT_EQ(mq_close(by_name), 0);
    EXPECT_EQ(mq_close(fresh), 0);
    EXPECT_EQ(mq_close(old), 0);
    return t_finish();
}
