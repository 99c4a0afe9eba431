/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* A queue's file has the kernel's times, in whole seconds, the same through stat of the path and
 * fstat of a descriptor: a read of the status line that returns bytes stamps atime and ctime,
 * a successful send or receive stamps all three, chmod only ctime, mq_setattr atime and ctime;
 * a read at the end, a failed receive, mq_getattr and fstat stamp nothing. The test waits for the
 * clock's second to change before each step, so that a stamp shows. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

static struct stat last;
static const char *path;
static int fd;

/* Waits (bounded: about a second) until the coarse clock, the one the kernel stamps with, is
 * past every time of the last snapshot. */
static void wait_for_the_next_second(void)
{
    time_t newest = last.st_atime > last.st_mtime ? last.st_atime : last.st_mtime;
    if (last.st_ctime > newest)
        newest = last.st_ctime;
    for (;;) {
        struct timespec now, step = { 0, 10 * 1000 * 1000 };
        clock_gettime(CLOCK_REALTIME_COARSE, &now);
        if (now.tv_sec > newest)
            return;
        nanosleep(&step, NULL);
    }
}

/* Which of the three times moved since the last snapshot; whether they are whole seconds and
 * whether stat and fstat agree. */
static void show_times(const char *after)
{
    struct stat st, fst;
    T_REQUIRE(stat(path, &st) == 0 && fstat(fd, &fst) == 0);
    int whole = st.st_atim.tv_nsec == 0 && st.st_mtim.tv_nsec == 0 && st.st_ctim.tv_nsec == 0;
    int agree = st.st_atime == fst.st_atime && st.st_mtime == fst.st_mtime && st.st_ctime == fst.st_ctime &&
                fst.st_atim.tv_nsec == st.st_atim.tv_nsec && fst.st_ctim.tv_nsec == st.st_ctim.tv_nsec;
    t_say("  after %s: atime %s, mtime %s, ctime %s; whole seconds %s; stat and fstat agree %s", after,
          st.st_atime > last.st_atime ? "moved" : "same", st.st_mtime > last.st_mtime ? "moved" : "same",
          st.st_ctime > last.st_ctime ? "moved" : "same", whole ? "yes" : "no", agree ? "yes" : "no");
    last = st;
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    const char *name = t_qname("tm");
    path = dmq_path(name);
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr));
    fd = EXPECT_OK(open(path, O_RDONLY));
    char buf[32];
    T_REQUIRE(stat(path, &last) == 0);
    show_times("creation");

    wait_for_the_next_second();
    EXPECT_EQ(pread(fd, buf, 10, 1000), 0);
    EXPECT_EQ(read(fd, buf, 0), 0);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
    EXPECT_EQ(mq_getattr(q, &attr), 0);
    show_times("calls that stamp nothing");
    EXPECT_EQ(read(fd, buf, 10), 10);
    show_times("a read of the status line");

    wait_for_the_next_second();
    EXPECT_EQ(mq_send(q, "x", 1, 0), 0);
    show_times("a send");

    wait_for_the_next_second();
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    show_times("a receive");

    wait_for_the_next_second();
    EXPECT_EQ(chmod(path, 0640), 0);
    show_times("chmod");

    wait_for_the_next_second();
    struct mq_attr blocking = { .mq_flags = 0 };
    EXPECT_EQ(mq_setattr(q, &blocking, NULL), 0);
    show_times("mq_setattr");

    EXPECT_EQ(close(fd), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
