/* mqt: static */
/* A descriptor opened without the needed access: sending on O_RDONLY and receiving on
 * O_WRONLY are EBADF (timed variants too); getattr works on either. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("access");
    mqd_t rw = t_mq_create("access", 2, 16, 0);
    mqd_t ro = EXPECT_OK(mq_open(name, O_RDONLY));
    mqd_t wo = EXPECT_OK(mq_open(name, O_WRONLY));
    struct timespec later = t_deadline_ms(1000);
    char buf[16];
    struct mq_attr attr;

    EXPECT_ERR(mq_send(ro, "x", 1, 0), EBADF);
    EXPECT_ERR(mq_timedsend(ro, "x", 1, 0, &later), EBADF);
    EXPECT_EQ(mq_send(wo, "ok", 2, 0), 0);
    EXPECT_ERR(mq_receive(wo, buf, sizeof buf, NULL), EBADF);
    EXPECT_ERR(mq_timedreceive(wo, buf, sizeof buf, NULL, &later), EBADF);
    EXPECT_EQ(mq_getattr(wo, &attr), 0);
    t_say("curmsgs seen through O_WRONLY: %ld", attr.mq_curmsgs);
    EXPECT_EQ(mq_getattr(ro, &attr), 0);
    long n = EXPECT_EQ(mq_receive(ro, buf, sizeof buf, NULL), 2);
    t_show_msg("received through O_RDONLY", buf, n, 0);

    EXPECT_EQ(mq_close(wo), 0);
    EXPECT_EQ(mq_close(ro), 0);
    EXPECT_EQ(mq_close(rw), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
