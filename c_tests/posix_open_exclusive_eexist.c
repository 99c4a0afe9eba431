/* O_CREAT|O_EXCL on an existing name is EEXIST; O_CREAT alone opens the existing queue. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("excl");
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 8 };

    mqd_t first = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    EXPECT_ERR(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr), EEXIST);
    EXPECT_ERR(mq_open(name, O_RDONLY | O_CREAT | O_EXCL, 0600, NULL), EEXIST);
    mqd_t second = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT, 0600, &attr));

    EXPECT_EQ(mq_send(first, "same", 4, 0), 0);
    char buf[8];
    long n = EXPECT_EQ(mq_receive(second, buf, sizeof buf, NULL), 4);
    t_show_msg("second descriptor receives", buf, n, 0);

    EXPECT_EQ(mq_close(second), 0);
    EXPECT_EQ(mq_close(first), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
