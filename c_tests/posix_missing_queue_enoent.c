/* A name that does not exist: mq_open without O_CREAT and mq_unlink are ENOENT; a second
 * mq_unlink of a removed name is ENOENT too. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("missing");

    EXPECT_ERR(mq_open(name, O_RDONLY), ENOENT);
    EXPECT_ERR(mq_open(name, O_RDWR | O_NONBLOCK), ENOENT);
    EXPECT_ERR(mq_unlink(name), ENOENT);

    mqd_t q = t_mq_create("missing", 1, 8, 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_ERR(mq_unlink(name), ENOENT);
    EXPECT_ERR(mq_open(name, O_WRONLY), ENOENT);
    return t_finish();
}
