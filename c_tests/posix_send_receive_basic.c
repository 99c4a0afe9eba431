/* mqt: linked static */
/*
 *
 * The success path of every basic POSIX call: create, send and timed send, receive and timed
 * receive (length and priority come back), a zero-length message, getattr counts, close,
 * unlink. */
#include "harness.h"

int main(void)
{
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 32 };
    const char *name = t_qname("basic");

    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    EXPECT_EQ(mq_send(q, "hello", 5, 7), 0);
    EXPECT_EQ(mq_send(q, "", 0, 0), 0);

    struct mq_attr got;
    EXPECT_EQ(mq_getattr(q, &got), 0);
    t_say("attr: flags %ld maxmsg %ld msgsize %ld curmsgs %ld",
          got.mq_flags, got.mq_maxmsg, got.mq_msgsize, got.mq_curmsgs);

    char buf[32];
    unsigned prio = 99;
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 5);
    t_show_msg("first", buf, n, prio);
    n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 0);
    t_show_msg("second (prio pointer NULL)", buf, n, -1);

    EXPECT_EQ(mq_getattr(q, &got), 0);
    t_say("curmsgs after receiving both: %ld", got.mq_curmsgs);

    struct timespec later = t_deadline_ms(5000);
    EXPECT_EQ(mq_timedsend(q, "timed", 5, 3, &later), 0);
    n = EXPECT_EQ(mq_timedreceive(q, buf, sizeof buf, &prio, &later), 5);
    t_show_msg("timed", buf, n, prio);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
