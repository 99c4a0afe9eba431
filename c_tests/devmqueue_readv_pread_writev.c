/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* A queue's file has a read method only, so the vector and positioned reads go through it as
 * the kernel's do_loop_readv_writev does: pread reads the status line at its position and
 * leaves the offset; readv and preadv read it piece by piece, stopping at a short piece, and
 * an error after some bytes gives their count; preadv2 at -1 reads at and moves the offset,
 * and any flag but RWF_HIPRI is EOPNOTSUPP (once there is something to read); a bad count is
 * EINVAL, an unreadable vector EFAULT, a descriptor not open for reading EBADF. writev,
 * pwritev and pwritev2 fail as write does: EINVAL, or EBADF when not open for writing. None of
 * them reaches anything behind the descriptor (the emulation's FIFO). */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

#include <sys/mman.h>
#include <sys/uio.h>

static char one[10], two[200];

static void show(const char *label, ssize_t n)
{
    printf("  %s: \"", label);
    if (n > 0) {
        t_print_text(one, n < 10 ? n : 10);
        if (n > 10) {
            printf("|");
            t_print_text(two, n - 10);
        }
    }
    printf("\"\n");
    memset(one, 0, sizeof one);
    memset(two, 0, sizeof two);
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    const char *name, *path;
    mqd_t q = dmq_create("rv", 0600, &name, &path);
    struct dmq_fds fds = dmq_open_each_way(path);
    int rw = fds.rw, ro = fds.ro, wo = fds.wo;
    void *unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(unmapped != MAP_FAILED);
    struct iovec iov[2] = { { one, sizeof one }, { two, sizeof two } };
    struct iovec bad_second[2] = { { one, sizeof one }, { unmapped, 100 } };
    struct iovec too_long[2] = { { one, sizeof one }, { two, (size_t)-1 } };
    struct iovec empty[1] = { { one, 0 } };
    volatile int minus_one = -1; /* not a constant: the compiler would refuse it */

    t_say("-- pread");
    EXPECT_EQ(read(rw, one, 5), 5);
    show("read", 5);
    ssize_t n = EXPECT_EQ(pread(rw, two, 20, 3), 20);
    printf("  pread at 3: \"");
    t_print_text(two, n);
    printf("\"\n");
    EXPECT_EQ(pread(rw, two, 10, 100), 0);
    EXPECT_ERR(pread(rw, two, 10, -1), EINVAL);
    EXPECT_ERR(pread(wo, two, 10, 0), EBADF);
    EXPECT_ERR(pread(rw, unmapped, 10, 0), EFAULT);
    EXPECT_EQ(lseek(rw, 0, SEEK_CUR), 5);

    t_say("-- readv and preadv");
    show("readv", EXPECT_EQ(readv(rw, iov, 2), 55));
    EXPECT_EQ(lseek(rw, 0, SEEK_CUR), 60);
    show("preadv at 0", EXPECT_EQ(preadv(rw, iov, 2, 0), 60));
    show("preadv at 55", EXPECT_EQ(preadv(rw, iov, 2, 55), 5));
    EXPECT_EQ(preadv(rw, iov, 2, 75), 0);
    show("readv of mq_open's", EXPECT_EQ(readv(q, iov, 2), 60));
    EXPECT_EQ(lseek(rw, 0, SEEK_CUR), 60);
    show("preadv, second piece unwritable", EXPECT_EQ(preadv(rw, bad_second, 2, 0), 10));
    show("preadv at 55, second piece unwritable", EXPECT_EQ(preadv(rw, bad_second, 2, 55), 5));
    EXPECT_ERR(preadv(rw, bad_second + 1, 1, 0), EFAULT);
    EXPECT_EQ(readv(rw, iov, 0), 0);
    EXPECT_ERR(readv(rw, iov, minus_one), EINVAL);
    EXPECT_ERR(readv(rw, too_long, 2), EINVAL);
    EXPECT_ERR(readv(rw, unmapped, 1), EFAULT);
    EXPECT_ERR(readv(wo, iov, 2), EBADF);
    EXPECT_ERR(preadv(rw, iov, 2, -1), EINVAL);

    t_say("-- preadv2");
    EXPECT_EQ(lseek(rw, 50, SEEK_SET), 50);
    show("preadv2 at 0", EXPECT_EQ(preadv2(rw, iov, 2, 0, 0), 60));
    show("preadv2 at -1", EXPECT_EQ(preadv2(rw, iov, 2, -1, 0), 10));
    EXPECT_EQ(lseek(rw, 0, SEEK_CUR), 60);
    show("preadv2 RWF_HIPRI", EXPECT_EQ(preadv2(rw, iov, 2, 0, RWF_HIPRI), 60));
    EXPECT_ERR(preadv2(rw, iov, 2, 0, RWF_NOWAIT), EOPNOTSUPP);
    EXPECT_EQ(preadv2(rw, empty, 1, 0, RWF_NOWAIT), 0);
    EXPECT_ERR(preadv2(rw, iov, 2, -2, 0), EINVAL);
    EXPECT_ERR(preadv2(wo, iov, 2, 0, RWF_NOWAIT), EBADF);

    t_say("-- writev, pwritev, pwritev2");
    struct iovec text[1] = { { "x", 1 } };
    EXPECT_ERR(writev(rw, text, 1), EINVAL);
    EXPECT_ERR(writev(wo, text, 1), EINVAL);
    EXPECT_ERR(writev(q, text, 1), EINVAL);
    EXPECT_ERR(writev(rw, text, 0), EINVAL);
    EXPECT_ERR(writev(wo, unmapped, 1), EINVAL);
    EXPECT_ERR(writev(ro, text, 1), EBADF);
    EXPECT_ERR(pwritev(rw, text, 1, 0), EINVAL);
    EXPECT_ERR(pwritev(ro, text, 1, 0), EBADF);
    EXPECT_ERR(pwritev(ro, text, 1, -1), EINVAL);
    EXPECT_ERR(pwritev2(rw, text, 1, 0, 0), EINVAL);
    EXPECT_ERR(pwritev2(rw, text, 1, -1, RWF_NOWAIT), EINVAL);
    EXPECT_ERR(pwritev2(ro, text, 1, -1, 0), EBADF);
    struct mq_attr now;
    EXPECT_EQ(mq_getattr(q, &now), 0);
    t_say("  messages queued: %ld", now.mq_curmsgs);

    dmq_close_each_way(&fds);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
