/* A queue descriptor is a file descriptor: dup() of it is a working queue descriptor (send and
 * receive through either reach the same queue), and it keeps working after the original is
 * closed with plain close(2), while the closed number is EBADF for every mq_* call. */
#include "harness.h"

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
    const char *name = t_qname("dup");
    mqd_t q = t_mq_create("dup", 2, 16, 0);
    mqd_t d = (mqd_t)dup(q);
    T_REQUIRE(d >= 0);
    t_check("the dup is not close-on-exec (dup clears FD_CLOEXEC)",
            (fcntl(d, F_GETFD) & FD_CLOEXEC) == 0);

    EXPECT_EQ(mq_send(d, "via-dup", 7, 1), 0);
    receive("original received", q);
    EXPECT_EQ(mq_send(q, "via-orig", 8, 2), 0);

    EXPECT_EQ(close(q), 0);
    char buf[16];
    struct mq_attr attr;
    EXPECT_ERR(mq_send(q, "closed", 6, 0), EBADF);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EBADF);
    EXPECT_ERR(mq_getattr(q, &attr), EBADF);

    EXPECT_EQ(mq_getattr(d, &attr), 0);
    t_say("through the dup: maxmsg %ld msgsize %ld curmsgs %ld",
          attr.mq_maxmsg, attr.mq_msgsize, attr.mq_curmsgs);
    receive("dup received", d);
    EXPECT_EQ(mq_send(d, "after-close", 11, 3), 0);
    receive("dup received", d);

    EXPECT_EQ(mq_close(d), 0);
    EXPECT_ERR(mq_close(d), EBADF);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
