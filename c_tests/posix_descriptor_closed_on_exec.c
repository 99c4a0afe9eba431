/* mqt: static */
/* A queue descriptor is always close-on-exec, with or without O_CLOEXEC (the kernel forces
 * it): F_GETFD shows FD_CLOEXEC, a forked child can still use the inherited descriptor, but a
 * program it then execs (this test re-executing itself through /proc/self/exe) finds the
 * descriptor numbers closed — fcntl and mq_getattr / mq_send on them are EBADF — and the queue
 * is untouched. */
#include "harness.h"

static int exec_check(const char *a, const char *b)
{
    int fds[2] = { atoi(a), atoi(b) };
    for (int i = 0; i < 2; i++) {
        t_say("descriptor opened %s O_CLOEXEC:", i == 0 ? "without" : "with");
        errno = 0;
        int r = fcntl(fds[i], F_GETFD);
        t_check("  it is closed in the exec'd program (fcntl EBADF)", r == -1 && errno == EBADF);
        struct mq_attr attr;
        EXPECT_ERR(mq_getattr(fds[i], &attr), EBADF);
        EXPECT_ERR(mq_send(fds[i], "exec", 4, 0), EBADF);
    }
    return t_finish();
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "exec-check") == 0)
        return exec_check(argv[2], argv[3]);

    /* Give the queue descriptors high numbers, so that nothing the exec'd program (or a
     * library preloaded into it) opens before the check can reuse them. */
    int hold[48];
    int nhold = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        T_REQUIRE(fd >= 0);
        hold[nhold++] = fd;
        if (fd >= 40 || nhold == 48)
            break;
    }

    const char *name = t_qname("cloexec");
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    mqd_t plain = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    mqd_t flagged = EXPECT_OK(mq_open(name, O_RDWR | O_CLOEXEC));
    for (int i = 0; i < nhold; i++)
        close(hold[i]);
    T_REQUIRE(plain != (mqd_t)-1 && flagged != (mqd_t)-1);

    t_check("opened without O_CLOEXEC: FD_CLOEXEC set", (fcntl(plain, F_GETFD) & FD_CLOEXEC) != 0);
    t_check("opened with O_CLOEXEC: FD_CLOEXEC set", (fcntl(flagged, F_GETFD) & FD_CLOEXEC) != 0);
    EXPECT_EQ(mq_send(plain, "kept", 4, 1), 0);

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct mq_attr got;
        EXPECT_EQ(mq_getattr(plain, &got), 0);
        t_say("forked child sees curmsgs %ld through the inherited descriptor", got.mq_curmsgs);
        EXPECT_EQ(mq_getattr(flagged, &got), 0);
        char a[16], b[16];
        snprintf(a, sizeof a, "%d", (int)plain);
        snprintf(b, sizeof b, "%d", (int)flagged);
        t_say("exec:");
        fflush(stdout);
        /* exec skips atexit: report this image's call counts now, and only once */
        t_write_counts();
        memset(t_counts, 0, sizeof t_counts);
        execl("/proc/self/exe", argv[0], "exec-check", a, b, (char *)NULL);
        t_say("execl failed: %s", t_errno_name(errno));
        exit(1);
    }
    t_join(&c, 0);

    EXPECT_EQ(mq_getattr(plain, &attr), 0);
    t_say("curmsgs after the exec'd program ran: %ld", attr.mq_curmsgs);
    char buf[16];
    unsigned prio;
    long n = EXPECT_EQ(mq_receive(flagged, buf, sizeof buf, &prio), 4);
    if (n >= 0)
        t_show_msg("received", buf, n, prio);
    EXPECT_EQ(mq_close(flagged), 0);
    EXPECT_EQ(mq_close(plain), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
