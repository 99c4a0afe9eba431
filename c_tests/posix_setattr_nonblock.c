/* mqt: static */
/* mq_getattr / mq_setattr: setattr changes only O_NONBLOCK (maxmsg/msgsize/curmsgs in the new
 * attr are ignored), returns the previous attributes, and takes effect on the descriptor.
 * Flags other than O_NONBLOCK are EINVAL — checked before the descriptor, so fd 999 gives
 * EINVAL too, while valid flags on fd 999 give EBADF. */
#include "harness.h"

static void show(const char *label, const struct mq_attr *a)
{
    t_say("%s: flags %s maxmsg %ld msgsize %ld curmsgs %ld", label,
          a->mq_flags == 0 ? "0" : a->mq_flags == O_NONBLOCK ? "O_NONBLOCK" : "other",
          a->mq_maxmsg, a->mq_msgsize, a->mq_curmsgs);
}

int main(void)
{
    const char *name = t_qname("setattr");
    mqd_t q = t_mq_create("setattr", 3, 16, 0);
    struct mq_attr got, old;
    char buf[16];

    EXPECT_EQ(mq_send(q, "one", 3, 0), 0);
    EXPECT_EQ(mq_getattr(q, &got), 0);
    show("initially", &got);

    struct mq_attr want = { .mq_flags = O_NONBLOCK, .mq_maxmsg = 99, .mq_msgsize = 99,
                            .mq_curmsgs = 99 };
    memset(&old, 0x5a, sizeof old);
    EXPECT_EQ(mq_setattr(q, &want, &old), 0);
    show("old attributes returned", &old);
    EXPECT_EQ(mq_getattr(q, &got), 0);
    show("after setting O_NONBLOCK", &got);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 3);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);

    struct mq_attr blocking = { .mq_flags = 0 };
    EXPECT_EQ(mq_setattr(q, &blocking, NULL), 0);
    EXPECT_EQ(mq_getattr(q, &got), 0);
    show("after clearing it (old attr pointer NULL)", &got);

    struct mq_attr bad = { .mq_flags = O_NONBLOCK | O_APPEND };
    EXPECT_ERR(mq_setattr(q, &bad, &old), EINVAL);
    struct mq_attr bad2 = { .mq_flags = O_RDWR };
    EXPECT_ERR(mq_setattr(q, &bad2, &old), EINVAL);
    EXPECT_ERR(mq_setattr(999, &bad, &old), EINVAL);
    EXPECT_ERR(mq_setattr(999, &blocking, &old), EBADF);
    EXPECT_EQ(mq_getattr(q, &got), 0);
    show("unchanged by the refused calls", &got);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
