/* An mq_notify that finds the queue registered by another process fails with EBUSY without
 * holding up the queue's senders and receivers: on the kernel it is a look at the queue under
 * its lock. Under mqshim, whether a SIGEV_NONE registration of another process still stands
 * takes a read of that process's descriptors (/proc/PID/fd: does it still have the queue
 * open?), which costs in proportion to how many it has; it is made without the queue's lock.
 * Here the owner has thousands of descriptors, its queue's the last, and a third process sends
 * and receives (non-blocking) all the while another checks, one message always queued (a
 * message that arrives on an empty queue would fire the registration, and end it).
 * Shown failing on the code before: the check read /proc under the lock, and the sends waited
 * for it ("the slowest send and receive took under 20 ms ... !! MISMATCH": 30-65 ms). */
#include "harness.h"
#include "mqt_fault.h"

#include <sys/mman.h>
#include <sys/resource.h>

#define CHECKS 6
#define PROMPT_MS 20

int main(void)
{
    const char *name = t_qname("busycheck");
    mqd_t q = t_mq_create("busycheck", 4, 8, O_NONBLOCK);
    volatile int *done = mmap(NULL, sizeof *done, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(done != MAP_FAILED);
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

    /* Another process checks, and checks again: EBUSY each time. */
    pid_t checker = t_fork();
    if (checker == 0) {
        int busy = 0;
        for (int i = 0; i < CHECKS; i++)
            busy += mq_notify(q, &none) == -1 && errno == EBUSY;
        *done = 1;
        exit(busy == CHECKS ? 0 : 3);
    }

    /* Meanwhile: sends and receives, each timed. */
    long pairs = 0;
    int64_t slowest = 0;
    char buf[8];
    while (!*done) {
        int64_t start = fault_now_ns();
        int sent = mq_send(q, "m", 1, 0) == 0;
        int received = mq_receive(q, buf, sizeof buf, NULL) == 1;
        int64_t took = fault_now_ns() - start;
        if (!sent || !received) {
            t_say("send %d, receive %d: %s", sent, received, t_errno_name(errno));
            t_failures++;
            break;
        }
        if (took > slowest)
            slowest = took;
        pairs++;
    }
    t_check("the checker got EBUSY every time", t_reap(checker) == 0);
    t_check("sends and receives ran beside the checks", pairs > 0);
    t_check("the slowest send and receive took under 20 ms", slowest < PROMPT_MS * 1000000LL);
    fprintf(stderr, "%ld sends and receives, the slowest %.2f ms\n", pairs, slowest / 1e6);

    t_chan_post(&quit);
    EXPECT_EQ(t_reap(owner), 0);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
