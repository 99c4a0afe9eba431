/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* fstatat(fd, "", AT_EMPTY_PATH) and statx(fd, "", AT_EMPTY_PATH) of a queue descriptor (from
 * mq_open or from open of /dev/mqueue/NAME) describe the queue's regular file, as fstat does.
 * read and pread of a queue descriptor with a buffer the kernel's access_ok refuses (a
 * count reaching past the user address space) fail with EFAULT before anything is read, even
 * at the end of the file (vfs_read checks it first); readv does not check a piece's whole
 * length (checked on kernel 6.18). */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

#include <stdint.h>
#include <sys/uio.h>

/* What a stat shows of the file, beside what fstat shows. */
static void compare_stat(const char *label, int fd)
{
    struct stat want, got;
    EXPECT_EQ(fstat(fd, &want), 0);
    memset(&got, 0, sizeof got);
    EXPECT_EQ(fstatat(fd, "", &got, AT_EMPTY_PATH), 0);
    t_check(label, got.st_mode == want.st_mode && got.st_ino == want.st_ino && got.st_dev == want.st_dev &&
                       got.st_size == want.st_size && got.st_uid == want.st_uid && got.st_nlink == want.st_nlink);
    t_say("  mode %o size %lld", (unsigned)got.st_mode, (long long)got.st_size);
    struct statx x;
    memset(&x, 0, sizeof x);
    EXPECT_EQ(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &x), 0);
    t_check("  statx the same", x.stx_mode == want.st_mode && x.stx_ino == want.st_ino &&
                                    x.stx_size == (uint64_t)want.st_size && x.stx_uid == want.st_uid &&
                                    x.stx_nlink == want.st_nlink);
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    const char *name = t_qname("ep");
    const char *path = dmq_path(name);
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0640, &attr));
    int ro = EXPECT_OK(open(path, O_RDONLY));

    t_say("-- fstatat and statx with an empty path");
    compare_stat("mq_open's descriptor: fstatat the same as fstat", q);
    compare_stat("open's descriptor: fstatat the same as fstat", ro);

    t_say("-- reads past the user address space");
    /* Through volatiles, so neither the compiler nor _FORTIFY_SOURCE sees the sizes. */
    static char storage[128];
    char *volatile buf = storage;
    volatile size_t huge = SIZE_MAX, past_user_space = (size_t)1 << 62;
    EXPECT_ERR(read(ro, buf, huge), EFAULT);
    EXPECT_ERR(read(ro, buf, past_user_space), EFAULT);
    EXPECT_ERR(pread(ro, buf, huge, 0), EFAULT);
    EXPECT_ERR(read(q, (void *)(UINTPTR_MAX - 4095), 16), EFAULT);
    EXPECT_EQ(lseek(ro, 0, SEEK_CUR), 0);
    /* readv calls the file's read method directly (do_loop_readv_writev), which copies only
     * the line: no access_ok over the whole piece. */
    struct iovec v = { .iov_base = buf, .iov_len = past_user_space };
    EXPECT_EQ(readv(ro, &v, 1), 60);
    EXPECT_EQ(lseek(ro, 0, SEEK_END), 80);
    EXPECT_ERR(read(ro, buf, huge), EFAULT);
    EXPECT_EQ(read(ro, buf, sizeof storage), 0);
    EXPECT_EQ(lseek(ro, 0, SEEK_SET), 0);
    EXPECT_EQ(read(ro, buf, sizeof storage), 60);

    EXPECT_EQ(close(ro), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
