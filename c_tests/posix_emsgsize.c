/* EMSGSIZE: sending more than mq_msgsize bytes; receiving into a buffer smaller than
 * mq_msgsize — even when the queued message would fit — and the message stays queued. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("emsgsize");
    mqd_t q = t_mq_create("emsgsize", 2, 16, 0);
    char big[17];
    memset(big, 'b', sizeof big);

    EXPECT_ERR(mq_send(q, big, 17, 0), EMSGSIZE);
    struct timespec later = t_deadline_ms(1000);
    EXPECT_ERR(mq_timedsend(q, big, 17, 0, &later), EMSGSIZE);
    EXPECT_EQ(mq_send(q, big, 16, 1), 0);
    EXPECT_EQ(mq_send(q, "s", 1, 0), 0);

    char buf[64];
    EXPECT_ERR(mq_receive(q, buf, 15, NULL), EMSGSIZE);
    EXPECT_ERR(mq_timedreceive(q, buf, 15, NULL, &later), EMSGSIZE);
    EXPECT_ERR(mq_receive(q, buf, 0, NULL), EMSGSIZE);
    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("curmsgs after refused receives: %ld", attr.mq_curmsgs);

    unsigned prio;
    long n = EXPECT_EQ(mq_receive(q, buf, 16, &prio), 16);
    t_show_msg("buffer of exactly mq_msgsize", buf, n, prio);
    n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 1);
    t_show_msg("larger buffer", buf, n, prio);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
