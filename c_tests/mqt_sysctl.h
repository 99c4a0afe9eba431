/* mqt_sysctl.h — the queue sysctls (the files of /proc/sys/fs/mqueue and /proc/sys/kernel/msg...), written and
 * read by the sysctl tests.
 *
 * Every sysctl test first enters a private IPC namespace (sys_private_ipc(): root only; it
 * checks that the namespace changed, and the test stops before writing anything otherwise), so
 * that on the kernel configurations its writes reach a namespace of its own and never the
 * machine's settings — and under the emulation, should mqshim let a write through, it reaches
 * that namespace too. Include after harness.h. */
#ifndef MQT_SYSCTL_H
#define MQT_SYSCTL_H

#include <grp.h>
#include <sched.h>
#include "mqt_shim.h"

/* A private IPC namespace, or the test stops (exit 97) having written nothing. */
static void sys_private_ipc(void)
{
    struct stat before, after;
    T_REQUIRE(stat("/proc/self/ns/ipc", &before) == 0);
    T_REQUIRE(unshare(CLONE_NEWIPC) == 0);
    T_REQUIRE(stat("/proc/self/ns/ipc", &after) == 0 && after.st_ino != before.st_ino);
}

/* The part of a sysctl path after /proc/sys/. */
static const char *sys_short(const char *path)
{
    return strncmp(path, "/proc/sys/", 10) == 0 ? path + 10 : path;
}

/* Prints `len` bytes of `data` with \n, \t and other bytes escaped. */
static void sys_print_bytes(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\n')
            printf("\\n");
        else if (c == '\t')
            printf("\\t");
        else if (c >= 32 && c < 127 && c != '"' && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
}

/* One write(2) of `len` bytes on `fd`, printed: "write "<data>" -> N" or "-> -1 ERRNO". */
static ssize_t sys_write_fd(int fd, const char *data, size_t len) T_UNUSED;
static ssize_t sys_write_fd(int fd, const char *data, size_t len)
{
    errno = 0;
    ssize_t n = write(fd, data, len);
    int e = errno;
    printf("  write \"");
    sys_print_bytes(data, len);
    if (n < 0)
        printf("\" -> -1 %s\n", t_errno_name(e));
    else
        printf("\" -> %zd\n", n);
    errno = e;
    return n;
}

/* Opens `path` for writing, writes `len` bytes once, closes; prints each step's result. */
static void sys_write_n(const char *path, const char *data, size_t len) T_UNUSED;
static void sys_write_n(const char *path, const char *data, size_t len)
{
    printf("%s:\n", sys_short(path));
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        printf("  open for writing -> -1 %s\n", t_errno_name(errno));
        return;
    }
    sys_write_fd(fd, data, len);
    T_REQUIRE(close(fd) == 0);
}

static void sys_write(const char *path, const char *text) T_UNUSED;
static void sys_write(const char *path, const char *text)
{
    sys_write_n(path, text, strlen(text));
}

/* What `path` reads (open + read, as cat does), printed as "  reads <text>" and returned. */
static long sys_read(const char *path) T_UNUSED;
static long sys_read(const char *path)
{
    char buf[64] = { 0 };
    int fd = open(path, O_RDONLY);
    T_REQUIRE(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    T_REQUIRE(n >= 0);
    printf("  %s reads \"", sys_short(path));
    sys_print_bytes(buf, (size_t)n);
    printf("\"\n");
    return strtol(buf, NULL, 10);
}

#define SYS_MSG_MAX "/proc/sys/fs/mqueue/msg_max"
#define SYS_MSGSIZE_MAX "/proc/sys/fs/mqueue/msgsize_max"
#define SYS_MSG_DEFAULT "/proc/sys/fs/mqueue/msg_default"
#define SYS_MSGSIZE_DEFAULT "/proc/sys/fs/mqueue/msgsize_default"
#define SYS_QUEUES_MAX "/proc/sys/fs/mqueue/queues_max"
#define SYS_MSGMAX "/proc/sys/kernel/msgmax"
#define SYS_MSGMNB "/proc/sys/kernel/msgmnb"
#define SYS_MSGMNI "/proc/sys/kernel/msgmni"
#define SYS_MSG_NEXT_ID "/proc/sys/kernel/msg_next_id"

static const char *const sys_all[] T_UNUSED = {
    SYS_QUEUES_MAX, SYS_MSG_MAX, SYS_MSGSIZE_MAX, SYS_MSG_DEFAULT, SYS_MSGSIZE_DEFAULT,
    SYS_MSGMAX, SYS_MSGMNB, SYS_MSGMNI, SYS_MSG_NEXT_ID,
};

/* Prints "  WHAT -> N" (or "-> -1 ERRNO", errno as the call left it) and the descriptor's
 * position after the call. */
static void sys_show_result(const char *what, ssize_t n, int fd) T_UNUSED;
static void sys_show_result(const char *what, ssize_t n, int fd)
{
    int e = errno;
    printf("  %s", what);
    if (n < 0)
        printf(" -> -1 %s", t_errno_name(e));
    else
        printf(" -> %zd", n);
    printf(", position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
}

#endif /* MQT_SYSCTL_H */
