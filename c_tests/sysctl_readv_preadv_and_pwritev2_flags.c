/* The vector reads of a sysctl follow read's position rule (proc_dointvec: `*ppos && !write`
 * reads nothing): readv, preadv and preadv2 at a position other than 0 read nothing, at 0 the
 * whole text across the pieces, a short one is not continued. preadv2 and pwritev2 take the
 * flags the kernel's file takes (kiocb_set_rw_flags): HIPRI, DSYNC, SYNC, APPEND, NOAPPEND and
 * NOSIGNAL change nothing; NOWAIT, ATOMIC, DONTCACHE and unknown flags are EOPNOTSUPP, APPEND
 * with NOAPPEND EINVAL — after EBADF for a read-only descriptor and 0 for nothing to write.
 * A pwritev2 with flags sets the value at once, as pwritev does. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_sysctl.h"
#include <sys/uio.h>

static char a[2], b[40];

/* Reads into a[0..alen] and b, prints what came and the position after. */
static void show_read(const char *what, int fd, ssize_t n)
{
    int e = errno;
    printf("  %s", what);
    if (n < 0)
        printf(" -> -1 %s", t_errno_name(e));
    else {
        printf(" -> %zd \"", n);
        sys_print_bytes(a, n < 2 ? (size_t)n : 2);
        if (n > 2)
            sys_print_bytes(b, (size_t)n - 2);
        printf("\"");
    }
    printf(", position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
}

static ssize_t put(int fd, const char *text, off_t pos, int flags)
{
    struct iovec w = { (void *)text, strlen(text) };
    errno = 0;
    return pwritev2(fd, &w, 1, pos, flags);
}

int main(void)
{
    sys_private_ipc();
    printf("%s:\n", sys_short(SYS_MSG_MAX));
    int rd = open(SYS_MSG_MAX, O_RDONLY);
    T_REQUIRE(rd >= 0);
    struct iovec both[2] = { { a, 2 }, { b, sizeof b } };
    struct iovec short_pair[2] = { { a, 1 }, { a + 1, 1 } };

    t_say("-- reads");
    show_read("readv", rd, readv(rd, both, 2));
    show_read("readv again", rd, readv(rd, both, 2));
    show_read("preadv at 1", rd, preadv(rd, both, 2, 1));
    show_read("preadv at 0", rd, preadv(rd, both, 2, 0));
    show_read("preadv2 at 2", rd, preadv2(rd, both, 2, 2, 0));
    show_read("preadv2 at -1", rd, preadv2(rd, both, 2, -1, 0));
    EXPECT_EQ(lseek(rd, 0, SEEK_SET), 0);
    show_read("readv of 1+1 bytes", rd, readv(rd, short_pair, 2));
    show_read("readv after it", rd, readv(rd, both, 2));
    show_read("preadv2 at 0 HIPRI", rd, preadv2(rd, both, 2, 0, RWF_HIPRI));
    show_read("preadv2 at 0 NOWAIT", rd, preadv2(rd, both, 2, 0, RWF_NOWAIT));
    show_read("preadv2 at 0 0x200", rd, preadv2(rd, both, 2, 0, 0x200));

    t_say("-- pwritev2 with flags");
    int fd = open(SYS_MSG_MAX, O_WRONLY);
    T_REQUIRE(fd >= 0);
    sys_show_result("\"20\" at 0 HIPRI", put(fd, "20\n", 0, RWF_HIPRI), fd);
    sys_read(SYS_MSG_MAX);
    sys_show_result("\"21\" at -1 DSYNC", put(fd, "21\n", -1, RWF_DSYNC), fd);
    sys_read(SYS_MSG_MAX);
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0);
    sys_show_result("\"22\" at -1 SYNC|APPEND", put(fd, "22\n", -1, RWF_SYNC | RWF_APPEND), fd);
    sys_read(SYS_MSG_MAX);
    sys_show_result("\"23\" at 0 NOAPPEND|0x100", put(fd, "23\n", 0, RWF_NOAPPEND | 0x100), fd);
    sys_read(SYS_MSG_MAX);
    sys_show_result("\"24\" at 3 HIPRI", put(fd, "24\n", 3, RWF_HIPRI), fd);
    sys_read(SYS_MSG_MAX);
    sys_show_result("\"25\" at 0 NOWAIT", put(fd, "25\n", 0, RWF_NOWAIT), fd);
    sys_show_result("\"25\" at 0 0x40 (ATOMIC)", put(fd, "25\n", 0, 0x40), fd);
    sys_show_result("\"25\" at 0 0x80 (DONTCACHE)", put(fd, "25\n", 0, 0x80), fd);
    sys_show_result("\"25\" at 0 0x200", put(fd, "25\n", 0, 0x200), fd);
    sys_show_result("\"25\" at 0 APPEND|NOAPPEND", put(fd, "25\n", 0, RWF_APPEND | RWF_NOAPPEND), fd);
    sys_show_result("\"\" at 0 NOWAIT", put(fd, "", 0, RWF_NOWAIT), fd);
    sys_show_result("\"bad\" at 0 HIPRI", put(fd, "bad", 0, RWF_HIPRI), fd);
    sys_read(SYS_MSG_MAX);
    sys_show_result("read-only: \"26\" at 0 NOWAIT", put(rd, "26\n", 0, RWF_NOWAIT), rd);
    sys_read(SYS_MSG_MAX);
    EXPECT_EQ(close(rd), 0);
    EXPECT_EQ(close(fd), 0);
    sys_read(SYS_MSG_MAX);
    return t_finish();
}
