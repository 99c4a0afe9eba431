/* mq_open gives the lowest free descriptor, as open(2) does and the kernel's mq_open (a queue
 * descriptor is a file descriptor): a program that closes a descriptor and opens a queue may
 * count on getting that number back, and one that passes numbers across an exec or compares
 * them with those of its other files sees the same ones. Checked with a hole below the highest
 * open descriptor (one closed between two still open), and with no hole, on every way a queue
 * is opened: made new, made again right after one was removed (the emulation serves that from
 * what it kept of the removed queue, whose directory it opens as well), opened by a process
 * that never had it, and opened again by one that had. No descriptor the library opens for
 * itself on the way is left below the program's, nor takes the program's number. */
#include "harness.h"

/* The lowest descriptor free now (found by dup, which takes the lowest). */
static int lowest_free(void)
{
    int fd = dup(0);
    T_REQUIRE(fd >= 0);
    close(fd);
    return fd;
}

/* Opens `name` with `oflag` where the lowest free descriptor is below another open one (a
 * hole), and again where it is not, and says whether each got the lowest free one. */
static void check(const char *what, const char *name, int oflag, struct mq_attr *attr, int unlink_between)
{
    for (int hole = 1; hole >= 0; hole--) {
        int below = -1, above = -1;
        if (hole) {
            below = dup(0);
            above = dup(0);
            T_REQUIRE(below >= 0 && above > below);
            close(below);
        }
        int want = lowest_free();
        mqd_t q = mq_open(name, oflag, 0600, attr);
        if (q == (mqd_t)-1) {
            t_say("%s%s: mq_open: %s", what, hole ? " (hole)" : "", t_errno_name(errno));
            t_failures++;
        } else {
            t_check(hole ? "  with a hole below another descriptor: the lowest free one" : "  with no hole: the lowest free one", (int)q == want);
            int next = lowest_free();
            t_check("  and nothing of the library's took the next one", next == want + 1 || (hole && next == above + 1));
            EXPECT_EQ(mq_close(q), 0);
        }
        if (unlink_between)
            EXPECT_EQ(mq_unlink(name), 0);
        if (hole)
            close(above);
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "first-open") == 0) {
        check("first open", argv[2], O_RDONLY, NULL, 0);
        return t_finish();
    }
    const char *name = t_qname("lowest");
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 32 };

    t_say("made new, then made again after each removal:");
    check("create", name, O_RDWR | O_CREAT | O_EXCL, &attr, 1);

    mqd_t made = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    EXPECT_EQ(mq_close(made), 0);
    /* A program that never had it: this one, executed again (a forked child would have what
     * its parent remembered of the queue). */
    t_say("opened by a process that never had it:");
    pid_t child = t_fork();
    if (child == 0) {
        execl("/proc/self/exe", argv[0], "first-open", name, (char *)NULL);
        exit(97);
    }
    t_check("  that program's checks passed", t_reap(child) == 0);
    t_say("opened again by one that had it:");
    check("reopen", name, O_WRONLY, NULL, 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
