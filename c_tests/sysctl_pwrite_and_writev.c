/* pwrite, writev and pwritev to a sysctl take the kernel's rules as write does: one number per
 * call (writev's pieces joined into one text), a call at a position other than 0 changes
 * nothing but reports every byte (sysctl_writes_strict); pwrite and pwritev leave the
 * descriptor's position alone, writev moves it by the count. */
#include "harness.h"
#include "mqt_sysctl.h"
#include <sys/uio.h>

static void two(int fd, const char *a, const char *b, off_t pos)
{
    struct iovec iov[2] = { { (void *)a, strlen(a) }, { (void *)b, strlen(b) } };
    errno = 0;
    ssize_t n = pos < 0 ? writev(fd, iov, 2) : pwritev(fd, iov, 2, pos);
    printf("  %s \"", pos < 0 ? "writev" : "pwritev");
    sys_print_bytes(a, strlen(a));
    printf("\" \"");
    sys_print_bytes(b, strlen(b));
    printf("\"");
    if (pos >= 0)
        printf(" at %ld", (long)pos);
    sys_show_result("", n, fd);
}

int main(void)
{
    sys_private_ipc();
    printf("%s:\n", sys_short(SYS_MSGMAX));
    int fd = open(SYS_MSGMAX, O_WRONLY);
    T_REQUIRE(fd >= 0);
    sys_show_result("pwrite \"5000\" at 0", pwrite(fd, "5000\n", 5, 0), fd);
    sys_read(SYS_MSGMAX);
    sys_show_result("pwrite \"6000\" at 3", pwrite(fd, "6000\n", 5, 3), fd);
    sys_read(SYS_MSGMAX);
    sys_show_result("pwrite \"bad\" at 0", pwrite(fd, "bad", 3, 0), fd);
    sys_read(SYS_MSGMAX);
    two(fd, "60", "00\n", -1);
    sys_read(SYS_MSGMAX);
    two(fd, "61", "00\n", -1);
    sys_read(SYS_MSGMAX);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    two(fd, "7", "x", -1);
    two(fd, "70", "00\n", 0);
    sys_read(SYS_MSGMAX);
    two(fd, "71", "00\n", 2);
    sys_read(SYS_MSGMAX);
    EXPECT_EQ(close(fd), 0);
    return t_finish();
}
