/* Priorities run 0..MQ_PRIO_MAX-1 (32767). 32768 and above are EINVAL — checked before the
 * descriptor, so fd 999 gives EINVAL too, not EBADF. */
#include "harness.h"
#include <limits.h>

int main(void)
{
    const char *name = t_qname("prio");
    mqd_t q = t_mq_create("prio", 2, 8, 0);
    struct timespec later = t_deadline_ms(1000);

    t_say("sysconf(_SC_MQ_PRIO_MAX) = %ld", sysconf(_SC_MQ_PRIO_MAX));
    EXPECT_ERR(mq_send(q, "x", 1, 32768), EINVAL);
    EXPECT_ERR(mq_send(q, "x", 1, UINT_MAX), EINVAL);
    EXPECT_ERR(mq_timedsend(q, "x", 1, 32768, &later), EINVAL);
    EXPECT_ERR(mq_send(999, "x", 1, 32768), EINVAL);
    EXPECT_ERR(mq_timedsend(999, "x", 1, 32768, &later), EINVAL);
    EXPECT_ERR(mq_send(999, "x", 1, 32767), EBADF);

    EXPECT_EQ(mq_send(q, "top", 3, 32767), 0);
    char buf[8];
    unsigned prio;
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 3);
    t_show_msg("received", buf, n, prio);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
