/* An mq_notify that finds the queue registered by another process fails with EBUSY without
 * holding up the queue's senders and receivers: on the kernel it is a look at the queue under
 * its lock. Under mqshim, whether a SIGEV_NONE registration of another process still stands
 * takes a read of that process's descriptors (/proc/PID/fd: does it still have the queue
 * open?), which costs in proportion to how many it has; it is made without the queue's lock.
 * Here the owner has thousands of descriptors, its queue's the last, and a third process sends
 * and receives (non-blocking) all the while another checks, one message always queued (a
 * message that arrives on an empty queue would fire the registration, and end it). The checker
 * counts the sends and receives done during each of its checks that took long (10 ms or
 * more: none on the kernel): a check that held them up saw less than a tenth of the sender's
 * pace. (Not the slowest send: on a loaded machine a send may wait as long for a CPU.)
 * Shown failing on the code before: the check read /proc under the lock, and the sends waited
 * for it ("the sends stopped during every long check: yes", expected no; 30-65 ms checks). */
#include "harness.h"
#include "mqt_fault.h"

#include <sys/mman.h>
#include <sys/resource.h>

#define CHECKS 6
/* A check this long read /proc (30-45 ms here; the kernel's and the redis backend's take
 * microseconds to a few ms); one during which the sender did less than a tenth of what it did
 * in as long before the checks (PACE_MS) held it up. The sends count as stopped when half the
 * checks or more were long, and every long one held them up (a loaded machine may keep the
 * sender from a CPU through one check, not through all). */
#define LONG_CHECK_MS 10
#define PACE_MS 20
#define HELD_UP_FACTOR 10

/* What the sender and the checker share. */
struct shared {
    volatile int done;         /* the checker: checks over */
    volatile long pairs;       /* the sender: sends and receives done */
};

int main(void)
{
    const char *name = t_qname("busycheck");
    mqd_t q = t_mq_create("busycheck", 4, 8, O_NONBLOCK);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(sh != MAP_FAILED);
    struct sigevent none;
    memset(&none, 0, sizeof none);
    none.sigev_notify = SIGEV_NONE;
    EXPECT_EQ(mq_send(q, "k", 1, 0), 0);

    /* The owner: as many descriptors as it may have (up to 16384), then the queue, opened
     * last so that its descriptor is the highest, and registered. */
    t_chan registered = t_chan_open(), quit = t_chan_open();
    pid_t owner = t_fork();
    if (owner == 0) {
        struct rlimit nofile;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
            nofile.rlim_cur = nofile.rlim_max;
            setrlimit(RLIMIT_NOFILE, &nofile);
        }
        mq_close(q);
        for (int i = 0; i < 16384; i++) {
            int fd = dup(STDIN_FILENO);
            if (fd < 0)
                break;
            if (fd >= (int)nofile.rlim_cur - 16) {
                close(fd);
                break;
            }
        }
        mqd_t mine = mq_open(name, O_RDONLY);
        if (mine == (mqd_t)-1 || mq_notify(mine, &none) != 0)
            exit(2);
        t_chan_post(&registered);
        t_chan_wait(&quit);
        exit(0);
    }
    t_chan_wait(&registered);

    /* Another process checks, and checks again: EBUSY each time; it reports whether the sends
     * stopped during every one of its long checks (exit 4), or some (exit 0). */
    pid_t checker = t_fork();
    if (checker == 0) {
        int busy = 0, long_checks = 0, held_up = 0;
        while (sh->pairs == 0)
            sched_yield();
        /* The sender's pace when nobody checks. */
        long paced = sh->pairs;
        int64_t pace_start = fault_now_ns();
        fault_sleep_us(PACE_MS * 1000);
        double per_ns = (double)(sh->pairs - paced) / (double)(fault_now_ns() - pace_start);
        for (int i = 0; i < CHECKS; i++) {
            long before = sh->pairs;
            int64_t start = fault_now_ns();
            busy += mq_notify(q, &none) == -1 && errno == EBUSY;
            int64_t took = fault_now_ns() - start;
            long during = sh->pairs - before;
            if (took >= LONG_CHECK_MS * 1000000LL) {
                long_checks++;
                held_up += during < per_ns * (double)took / HELD_UP_FACTOR;
            }
            fprintf(stderr, "check %d: %.1f ms, %ld sends and receives meanwhile (%.0f at the pace before)\n", i, took / 1e6, during,
                    per_ns * (double)took);
        }
        sh->done = 1;
        exit(busy != CHECKS ? 3 : long_checks >= CHECKS / 2 && held_up == long_checks ? 4 : 0);
    }

    /* Meanwhile: sends and receives, counted. */
    char buf[8];
    while (!sh->done) {
        int sent = mq_send(q, "m", 1, 0) == 0;
        int received = mq_receive(q, buf, sizeof buf, NULL) == 1;
        if (!sent || !received) {
            t_say("send %d, receive %d: %s", sent, received, t_errno_name(errno));
            t_failures++;
            sh->done = 1;
            break;
        }
        sh->pairs++;
    }
    int code = t_reap(checker);
    t_check("the checker got EBUSY every time", code != 3);
    t_say("the sends stopped during every long check: %s", code == 4 ? "yes" : "no");

    t_chan_post(&quit);
    EXPECT_EQ(t_reap(owner), 0);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
