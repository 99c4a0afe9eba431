/* mqt: static */
/* Descriptors that are not open message queues: a closed queue descriptor, 999 and stdin
 * are EBADF for every call that takes a descriptor; closing a queue twice is EBADF. */
#include "harness.h"

static void all_calls_ebadf(mqd_t fd)
{
    char buf[16];
    struct mq_attr attr;
    struct mq_attr nonblock = { .mq_flags = O_NONBLOCK };
    struct sigevent none = { .sigev_notify = SIGEV_NONE };
    struct timespec later = t_deadline_ms(1000);

    EXPECT_ERR(mq_send(fd, "x", 1, 0), EBADF);
    EXPECT_ERR(mq_timedsend(fd, "x", 1, 0, &later), EBADF);
    EXPECT_ERR(mq_receive(fd, buf, sizeof buf, NULL), EBADF);
    EXPECT_ERR(mq_timedreceive(fd, buf, sizeof buf, NULL, &later), EBADF);
    EXPECT_ERR(mq_getattr(fd, &attr), EBADF);
    EXPECT_ERR(mq_setattr(fd, &nonblock, &attr), EBADF);
    EXPECT_ERR(mq_notify(fd, &none), EBADF);
    EXPECT_ERR(mq_notify(fd, NULL), EBADF);
}

int main(void)
{
    const char *name = t_qname("ebadf");
    mqd_t closed = t_mq_create("ebadf", 1, 16, 0);
    EXPECT_EQ(mq_close(closed), 0);
    EXPECT_ERR(mq_close(closed), EBADF);

    t_say("-- a closed queue descriptor");
    all_calls_ebadf(closed);
    t_say("-- descriptor 999");
    all_calls_ebadf(999);
    EXPECT_ERR(mq_close(999), EBADF);
    t_say("-- stdin (open, but not a queue)");
    all_calls_ebadf(0);
    t_say("-- descriptor -1");
    all_calls_ebadf(-1);

    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
