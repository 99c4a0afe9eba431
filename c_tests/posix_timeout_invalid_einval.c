/* mqt: static */
/* An invalid timespec (tv_nsec -1 or 1e9, tv_sec < 0) is EINVAL even when the call would not
 * block: mq_timedsend on a queue with room, mq_timedreceive with a message queued, and on an
 * O_NONBLOCK descriptor where EAGAIN would otherwise come. Nothing is sent or consumed. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("badtime");
    mqd_t q = t_mq_create("badtime", 2, 8, 0);
    struct timespec neg_nsec = { .tv_sec = time(NULL) + 10, .tv_nsec = -1 };
    struct timespec big_nsec = { .tv_sec = time(NULL) + 10, .tv_nsec = 1000000000 };
    struct timespec neg_sec = { .tv_sec = -1, .tv_nsec = 0 };
    char buf[8];
    struct mq_attr attr;

    EXPECT_ERR(mq_timedsend(q, "x", 1, 0, &neg_nsec), EINVAL);
    EXPECT_ERR(mq_timedsend(q, "x", 1, 0, &big_nsec), EINVAL);
    EXPECT_ERR(mq_timedsend(q, "x", 1, 0, &neg_sec), EINVAL);
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs after refused sends: %ld", attr.mq_curmsgs);

    EXPECT_EQ(mq_send(q, "queued", 6, 0), 0);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &neg_nsec), EINVAL);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &big_nsec), EINVAL);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &neg_sec), EINVAL);
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs after refused receives: %ld", attr.mq_curmsgs);

    /* the timeout is checked before anything else */
    mqd_t nb = EXPECT_OK(mq_open(name, O_RDWR | O_NONBLOCK));
    EXPECT_EQ(mq_receive(nb, buf, sizeof buf, NULL), 6);
    EXPECT_ERR(mq_timedreceive(nb, buf, sizeof buf, NULL, &big_nsec), EINVAL);
    EXPECT_ERR(mq_timedreceive(999, buf, sizeof buf, NULL, &big_nsec), EINVAL);
    EXPECT_ERR(mq_timedsend(999, "x", 1, 0, &big_nsec), EINVAL);
    EXPECT_ERR(mq_timedreceive(q, buf, 1, NULL, &big_nsec), EINVAL);   /* not EMSGSIZE */

    EXPECT_EQ(mq_close(nb), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
