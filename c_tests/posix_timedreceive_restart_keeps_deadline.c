/* mqt: static */
/* mq_timedreceive interrupted by a handled signal (SA_RESTART) is restarted with the same
 * absolute deadline: it still fails with ETIMEDOUT at the original deadline, not later. The
 * parent keeps signalling the child every ~50 ms while it waits (and for at most 3 s), so an
 * implementation that restarted the wait with a fresh relative timeout would overshoot the
 * deadline by more than 2 s. Times are checked, never printed. */
#include "harness.h"
#include <poll.h>

#define DEADLINE_MS 300

static int handler_fd = -1;
static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void)sig;
    char b = 1;
    handled++;
    if (write(handler_fd, &b, 1) < 0) { /* the parent sees EOF when we exit */ }
}

static long long ns_of(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

int main(void)
{
    const char *name = t_qname("timedrestart");
    mqd_t q = t_mq_create("timedrestart", 2, 16, 0);
    t_chan ready = t_chan_open(), done = t_chan_open(), handler = t_chan_open();
    handler_fd = handler.wr;

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        T_REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
        struct mq_attr attr;
        mq_getattr(q, &attr);                   /* warm up before announcing the wait */

        struct timespec deadline = t_deadline_ms(DEADLINE_MS);
        t_chan_post(&ready);
        char buf[16];
        EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &deadline), ETIMEDOUT);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);

        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, NULL);    /* no more handler runs from here on */
        t_check("the handler ran while the call waited", handled >= 1);
        t_check("returned at or after the deadline", ns_of(&now) >= ns_of(&deadline));
        t_check("returned less than 2 s after the deadline",
                ns_of(&now) < ns_of(&deadline) + 2000000000LL);
        t_chan_post(&done);
        exit(t_child_status());
    }
    close(handler.wr);                          /* EOF on handler.rd once the child is gone */
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);

    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (kill(c.pid, SIGUSR1) != 0)
            break;
        char b;
        ssize_t r;
        do
            r = read(handler.rd, &b, 1);
        while (r < 0 && errno == EINTR);
        if (r != 1)
            break;                              /* the child exited with SIGUSR1 blocked */
        struct pollfd p = { .fd = done.rd, .events = POLLIN };
        if (poll(&p, 1, 50) > 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ns_of(&now) - ns_of(&start) > 3000000000LL)
            break;
    }
    t_say("parent stopped signalling");
    t_join(&c, 0);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
