/* LTP's mq_open ENOSPC pattern: with queues_max set to 2 (in a namespace holding no queue, by
 * a caller without CAP_SYS_RESOURCE), two creates succeed and the third is ENOSPC; an existing
 * queue still opens; raising queues_max lets the next create succeed. msg_max and msgsize_max
 * written through /proc bound a create's attributes (EINVAL beyond), and msg_default and
 * msgsize_default are what a create without attributes gets. */
#include "harness.h"
#include "mqt_sysctl.h"

static mqd_t create(const char *tag, long maxmsg, long msgsize)
{
    struct mq_attr attr = { .mq_maxmsg = maxmsg, .mq_msgsize = msgsize };
    return mq_open(t_qname(tag), O_RDWR | O_CREAT | O_EXCL, 0600, maxmsg ? &attr : NULL);
}

int main(void)
{
    sys_private_ipc();
    shim_drop_cap_sys_resource();
    sys_write(SYS_QUEUES_MAX, "2\n");
    mqd_t a = EXPECT_OK(create("qa", 2, 16));
    mqd_t b = EXPECT_OK(create("qb", 2, 16));
    EXPECT_ERR(create("qc", 2, 16), ENOSPC);
    mqd_t a2 = EXPECT_OK(mq_open(t_qname("qa"), O_RDWR));

    t_say("-- raised to 3; msg_max 4, msgsize_max 256, defaults 3 x 200");
    sys_write(SYS_QUEUES_MAX, "3\n");
    sys_write(SYS_MSG_MAX, "4\n");
    sys_write(SYS_MSGSIZE_MAX, "256\n");
    sys_write(SYS_MSG_DEFAULT, "3\n");
    sys_write(SYS_MSGSIZE_DEFAULT, "200\n");
    EXPECT_ERR(create("qc", 5, 16), EINVAL);
    EXPECT_ERR(create("qc", 4, 257), EINVAL);
    mqd_t c = EXPECT_OK(create("qc", 0, 0));
    struct mq_attr got;
    EXPECT_EQ(mq_getattr(c, &got), 0);
    t_say("default attributes: %ld x %ld", got.mq_maxmsg, got.mq_msgsize);
    EXPECT_ERR(create("qd", 4, 256), ENOSPC);

    mqd_t qs[] = { a, a2, b, c };
    for (int i = 0; i < 4; i++)
        EXPECT_EQ(mq_close(qs[i]), 0);
    EXPECT_EQ(mq_unlink(t_qname("qa")), 0);
    EXPECT_EQ(mq_unlink(t_qname("qb")), 0);
    EXPECT_EQ(mq_unlink(t_qname("qc")), 0);
    return t_finish();
}
