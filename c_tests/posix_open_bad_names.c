/* Queue names the kernel refuses, with the errno it gives (SEMANTICS §1.2): no leading slash
 * is glibc's EINVAL; "/" is ENOENT even with O_CREAT; a second slash or "." is EACCES;
 * 256 characters after the slash is ENAMETOOLONG while 255 is accepted. mq_unlink too. */
#include "harness.h"

int main(void)
{
    struct mq_attr attr = { .mq_maxmsg = 1, .mq_msgsize = 8 };
    int create = O_RDWR | O_CREAT | O_EXCL;

    EXPECT_ERR(mq_open("noslash", create, 0600, &attr), EINVAL);
    EXPECT_ERR(mq_open("noslash", O_RDONLY), EINVAL);
    EXPECT_ERR(mq_open("", O_RDONLY), EINVAL);
    EXPECT_ERR(mq_open("/", create, 0600, &attr), ENOENT);
    EXPECT_ERR(mq_open("/", O_RDONLY), ENOENT);
    EXPECT_ERR(mq_open("/a/b", create, 0600, &attr), EACCES);
    EXPECT_ERR(mq_open("/a/b", O_RDONLY), EACCES);
    EXPECT_ERR(mq_open("/.", create, 0600, &attr), EACCES);
    EXPECT_ERR(mq_open("/..", create, 0600, &attr), EACCES);

    const char *too_long = t_qname_len("long", 256);
    EXPECT_ERR(mq_open(too_long, create, 0600, &attr), ENAMETOOLONG);
    EXPECT_ERR(mq_open(too_long, O_RDONLY), ENAMETOOLONG);
    EXPECT_ERR(mq_unlink(too_long), ENAMETOOLONG);

    const char *longest = t_qname_len("long", 255);
    mqd_t q = EXPECT_OK(mq_open(longest, create, 0600, &attr));
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(longest), 0);

    EXPECT_ERR(mq_unlink("noslash"), EINVAL);
    EXPECT_ERR(mq_unlink("/"), ENOENT);
    EXPECT_ERR(mq_unlink("/a/b"), EACCES);
    return t_finish();
}
