/* Flags and attributes mq_open refuses: access mode O_ACCMODE (3) is EINVAL on an existing
 * queue — but with O_CREAT on a *new* name the kernel creates the queue and returns a
 * descriptor that can neither send nor receive (EBADF) while getattr works (measured; the
 * kernel checks the access mode only in the "already exists" branch); a creating attr with mq_maxmsg <= 0,
 * mq_msgsize <= 0, or above /proc/sys/fs/mqueue/msg_max (10) / msgsize_max (8192) is EINVAL
 * for root without CAP_SYS_RESOURCE; the maxima themselves are accepted; an existing queue
 * ignores attr (and mode) entirely, even an invalid one. */
#include "harness.h"

static void try_attr(const char *name, long maxmsg, long msgsize, int expect_errno)
{
    struct mq_attr a = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    printf("attr maxmsg %ld msgsize %ld: ", maxmsg, msgsize);
    if (expect_errno) {
        EXPECT_ERR(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a), expect_errno);
    } else {
        mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a));
        EXPECT_EQ(mq_close(q), 0);
        EXPECT_EQ(mq_unlink(name), 0);
    }
}

int main(void)
{
    const char *fresh = t_qname("fresh");
    const char *existing = t_qname("existing");
    mqd_t q = t_mq_create("existing", 2, 16, 0);

    /* access mode 3 */
    EXPECT_ERR(mq_open(existing, O_ACCMODE), EINVAL);
    EXPECT_ERR(mq_open(existing, O_ACCMODE | O_CREAT, 0600, NULL), EINVAL);
    struct mq_attr small = { .mq_maxmsg = 1, .mq_msgsize = 8 };
    const char *acc3 = t_qname("acc3");
    mqd_t neither = EXPECT_OK(mq_open(acc3, O_ACCMODE | O_CREAT, 0600, &small));
    EXPECT_ERR(mq_send(neither, "x", 1, 0), EBADF);
    char buf[8];
    EXPECT_ERR(mq_receive(neither, buf, sizeof buf, NULL), EBADF);
    struct mq_attr got;
    EXPECT_EQ(mq_getattr(neither, &got), 0);
    EXPECT_ERR(mq_open(acc3, O_ACCMODE | O_CREAT, 0600, &small), EINVAL);  /* now it exists */
    EXPECT_EQ(mq_close(neither), 0);
    EXPECT_EQ(mq_unlink(acc3), 0);

    /* creating attributes */
    try_attr(fresh, 0, 8, EINVAL);
    try_attr(fresh, -1, 8, EINVAL);
    try_attr(fresh, 1, 0, EINVAL);
    try_attr(fresh, 1, -1, EINVAL);
    try_attr(fresh, 11, 8, EINVAL);
    try_attr(fresh, 1, 8193, EINVAL);
    try_attr(fresh, 65536, 8, EINVAL);
    try_attr(fresh, 1, 8192, 0);
    try_attr(fresh, 10, 8, 0);

    /* an existing queue ignores attr, even an invalid one */
    struct mq_attr bad = { .mq_maxmsg = 0, .mq_msgsize = 0 };
    mqd_t again = EXPECT_OK(mq_open(existing, O_RDWR | O_CREAT, 0600, &bad));
    EXPECT_EQ(mq_getattr(again, &got), 0);
    t_say("existing queue keeps maxmsg %ld msgsize %ld", got.mq_maxmsg, got.mq_msgsize);
    EXPECT_EQ(mq_close(again), 0);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(existing), 0);
    return t_finish();
}
