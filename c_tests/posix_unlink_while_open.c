/* mqt: static */
/* mq_unlink removes the name at once, but open descriptors keep working on the old queue;
 * creating the name again makes a different, empty queue. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("unlinkopen");
    mqd_t old = t_mq_create("unlinkopen", 2, 8, 0);
    EXPECT_EQ(mq_send(old, "before", 6, 0), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_ERR(mq_open(name, O_RDONLY), ENOENT);

    EXPECT_EQ(mq_send(old, "after", 5, 0), 0);
    char buf[8];
    long n = EXPECT_EQ(mq_receive(old, buf, sizeof buf, NULL), 6);
    t_show_msg("old descriptor still receives", buf, n, 0);

    struct mq_attr attr = { .mq_maxmsg = 1, .mq_msgsize = 8 };
    mqd_t fresh = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr));
    EXPECT_ERR(mq_receive(fresh, buf, sizeof buf, NULL), EAGAIN);
    struct mq_attr got;
    EXPECT_EQ(mq_getattr(fresh, &got), 0);
    t_say("new queue: maxmsg %ld curmsgs %ld", got.mq_maxmsg, got.mq_curmsgs);
    EXPECT_EQ(mq_getattr(old, &got), 0);
    t_say("old queue: maxmsg %ld curmsgs %ld", got.mq_maxmsg, got.mq_curmsgs);

    EXPECT_EQ(mq_close(fresh), 0);
    EXPECT_EQ(mq_close(old), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
