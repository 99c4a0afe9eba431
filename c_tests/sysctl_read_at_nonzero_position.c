/* Reads of a sysctl at a position other than 0 (proc_dointvec: `*ppos && !write` reads
 * nothing): a short read gives the start of the text and the next read end of file, not the
 * rest; lseek or pread to any position but 0 reads nothing; back at 0 the whole text again.
 * A write to the read-only descriptor is EBADF. */
#include "harness.h"
#include "mqt_sysctl.h"

/* One read(2) (pos < 0) or pread(2) at `pos` of `count` bytes, printed. */
static void sys_read_fd(int fd, size_t count, off_t pos)
{
    char buf[64] = { 0 };
    errno = 0;
    ssize_t n = pos < 0 ? read(fd, buf, count) : pread(fd, buf, count, pos);
    int e = errno;
    if (pos < 0)
        printf("  read %zu", count);
    else
        printf("  pread %zu at %ld", count, (long)pos);
    if (n < 0) {
        printf(" -> -1 %s\n", t_errno_name(e));
        return;
    }
    printf(" -> %zd \"", n);
    sys_print_bytes(buf, (size_t)n);
    printf("\"\n");
}

int main(void)
{
    sys_private_ipc();
    const char *paths[] = { SYS_MSG_MAX, SYS_MSGMNB };
    for (size_t i = 0; i < 2; i++) {
        printf("%s:\n", sys_short(paths[i]));
        int fd = open(paths[i], O_RDONLY);
        T_REQUIRE(fd >= 0);
        sys_read_fd(fd, 1, -1);
        printf("  position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
        sys_read_fd(fd, 63, -1);
        printf("  position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
        EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
        sys_read_fd(fd, 63, -1);
        printf("  position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
        sys_read_fd(fd, 63, -1);
        sys_read_fd(fd, 63, 1);
        sys_read_fd(fd, 63, 0);
        printf("  position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
        EXPECT_EQ(lseek(fd, 2, SEEK_SET), 2);
        sys_read_fd(fd, 63, -1);
        EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
        sys_write_fd(fd, "5\n", 2);
        EXPECT_EQ(close(fd), 0);
    }
    return t_finish();
}
