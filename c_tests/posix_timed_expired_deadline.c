/* mqt: static */
/* An absolute deadline already in the past: mq_timedreceive on an empty queue and
 * mq_timedsend on a full one fail with ETIMEDOUT without waiting; when the call would not
 * block, the expired deadline does not matter and the call succeeds. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("expired");
    mqd_t q = t_mq_create("expired", 1, 8, 0);
    struct timespec past = t_deadline_ms(-1000);
    struct timespec epoch = { 0, 0 };
    char buf[8];
    unsigned prio;

    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &past), ETIMEDOUT);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &epoch), ETIMEDOUT);
    EXPECT_EQ(mq_timedsend(q, "fits", 4, 2, &past), 0);          /* not full: no wait */
    EXPECT_ERR(mq_timedsend(q, "full", 4, 2, &past), ETIMEDOUT);
    EXPECT_ERR(mq_timedsend(q, "full", 4, 2, &epoch), ETIMEDOUT);
    long n = EXPECT_EQ(mq_timedreceive(q, buf, sizeof buf, &prio, &past), 4);
    t_show_msg("received despite expired deadline", buf, n, prio);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
