/* A queue descriptor is a file descriptor: close(2) on it works like mq_close (later calls
 * are EBADF), and mq_close on a non-queue descriptor (a pipe end) simply closes it. */
#include "harness.h"

int main(void)
{
    const char *name = t_qname("close");
    mqd_t q = t_mq_create("close", 1, 8, 0);
    t_check("the queue descriptor is an open fd (F_GETFD)", fcntl(q, F_GETFD) >= 0);
    t_check("and it is close-on-exec", (fcntl(q, F_GETFD) & FD_CLOEXEC) != 0);
    EXPECT_EQ(close(q), 0);
    EXPECT_ERR(mq_send(q, "x", 1, 0), EBADF);
    EXPECT_ERR(mq_close(q), EBADF);

    int p[2];
    T_REQUIRE(pipe(p) == 0);
    EXPECT_EQ(mq_close(p[0]), 0);
    t_check("the pipe end is closed", fcntl(p[0], F_GETFD) == -1 && errno == EBADF);
    close(p[1]);

    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
