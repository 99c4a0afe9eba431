/* mqt: static */
/* mq_notify registration bookkeeping with SIGEV_NONE: register succeeds, a second
 * registration by the same process is EBUSY, NULL unregisters (and is 0 also when nothing is
 * registered), after which registering works again. An unknown sigev_notify is EINVAL even
 * on fd 999 (validation before the descriptor). */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("notify");
    mqd_t q = t_mq_create("notify", 2, 8, 0);
    struct sigevent none = { .sigev_notify = SIGEV_NONE };
    struct sigevent bogus = { .sigev_notify = 99 };

    EXPECT_EQ(mq_notify(q, &none), 0);
    EXPECT_ERR(mq_notify(q, &none), EBUSY);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);
    EXPECT_EQ(mq_notify(q, &none), 0);
    EXPECT_EQ(mq_notify(q, NULL), 0);

    EXPECT_ERR(mq_notify(q, &bogus), EINVAL);
    EXPECT_ERR(mq_notify(999, &bogus), EINVAL);
    EXPECT_ERR(mq_notify(999, &none), EBADF);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
