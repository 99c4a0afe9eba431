/* O_NONBLOCK: receiving from an empty queue and sending to a full one fail at once with
 * EAGAIN — the timed variants too, whatever their deadline. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("nonblock");
    mqd_t q = t_mq_create("nonblock", 2, 8, O_NONBLOCK);
    struct timespec later = t_deadline_ms(5000);
    char buf[8];

    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &later), EAGAIN);
    EXPECT_EQ(mq_send(q, "one", 3, 0), 0);
    EXPECT_EQ(mq_send(q, "two", 3, 0), 0);
    EXPECT_ERR(mq_send(q, "three", 5, 0), EAGAIN);
    EXPECT_ERR(mq_timedsend(q, "three", 5, 0, &later), EAGAIN);

    struct mq_attr attr;
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    t_say("flags %s curmsgs %ld", attr.mq_flags == O_NONBLOCK ? "O_NONBLOCK" : "other",
          attr.mq_curmsgs);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
