/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* A queue's file has no write method: write and pwrite of a queue descriptor (from open of
 * /dev/mqueue/NAME or from mq_open) fail with EINVAL, or EBADF when it is not open for
 * writing, and queue nothing. lseek is the kernel's default_llseek over the status line: SEEK_SET
 * and SEEK_CUR move the offset read goes on from, SEEK_END is from the file's size (80),
 * SEEK_DATA/SEEK_HOLE answer as for a file of 80 bytes without holes (ENXIO at or past it), a
 * negative result or an unknown whence is EINVAL and leaves the offset. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

static void show_read(int fd)
{
    char buf[128] = { 0 };
    ssize_t n = read(fd, buf, sizeof buf - 1);
    printf("  read -> %zd \"", n);
    if (n > 0)
        t_print_text(buf, n);
    printf("\"\n");
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    const char *name, *path;
    mqd_t q = dmq_create("wr", 0600, &name, &path);

    t_say("-- write and pwrite");
    struct dmq_fds fds = dmq_open_each_way(path);
    int rw = fds.rw, ro = fds.ro, wo = fds.wo;
    EXPECT_ERR(write(rw, "x", 1), EINVAL);
    EXPECT_ERR(write(wo, "x", 1), EINVAL);
    EXPECT_ERR(write(ro, "x", 1), EBADF);
    EXPECT_ERR(write(q, "x", 1), EINVAL);
    EXPECT_ERR(write(rw, "x", 0), EINVAL);
    EXPECT_ERR(pwrite(rw, "x", 1, 0), EINVAL);
    EXPECT_ERR(pwrite(ro, "x", 1, 0), EBADF);
    EXPECT_ERR(pwrite(rw, "x", 1, -1), EINVAL);
    struct mq_attr now;
    EXPECT_EQ(mq_getattr(q, &now), 0);
    t_say("  messages queued: %ld", now.mq_curmsgs);

    t_say("-- lseek");
    EXPECT_EQ(lseek(ro, 0, SEEK_CUR), 0);
    EXPECT_EQ(lseek(ro, 60, SEEK_SET), 60);
    show_read(ro);
    EXPECT_EQ(lseek(ro, 0, SEEK_CUR), 60);
    EXPECT_EQ(lseek(ro, 6, SEEK_SET), 6);
    EXPECT_EQ(lseek(ro, 10, SEEK_CUR), 16);
    show_read(ro);
    EXPECT_EQ(lseek(ro, -20, SEEK_END), 60);
    EXPECT_EQ(lseek(ro, 5, SEEK_END), 85);
    EXPECT_ERR(lseek(ro, -1, SEEK_SET), EINVAL);
    EXPECT_ERR(lseek(ro, -100, SEEK_CUR), EINVAL);
    EXPECT_ERR(lseek(ro, 0, 99), EINVAL);
    EXPECT_EQ(lseek(ro, 0, SEEK_CUR), 85);
    EXPECT_EQ(lseek(ro, 10, SEEK_DATA), 10);
    EXPECT_EQ(lseek(ro, 10, SEEK_HOLE), 80);
    EXPECT_ERR(lseek(ro, 80, SEEK_DATA), ENXIO);
    EXPECT_ERR(lseek(ro, 90, SEEK_HOLE), ENXIO);
    EXPECT_EQ(lseek(ro, 0, SEEK_SET), 0);
    show_read(ro);
    EXPECT_EQ(lseek(q, 3, SEEK_SET), 3);
    EXPECT_EQ(lseek64(q, 0, SEEK_CUR), 3);
    EXPECT_EQ(lseek(wo, 7, SEEK_SET), 7);

    dmq_close_each_way(&fds);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
