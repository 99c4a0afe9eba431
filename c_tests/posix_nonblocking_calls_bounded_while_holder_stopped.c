/* A process stopped (SIGSTOP) at any moment of a call — for the emulation, possibly while it
 * holds a queue's lock — never makes another process's non-blocking call (mq_send/mq_receive
 * on an O_NONBLOCK description, mq_getattr, mq_setattr) wait, nor a timed call
 * (mq_timedsend/mq_timedreceive) wait much past its deadline. On the kernel a stopped process
 * holds no lock. A busy child is stopped many times at pseudo-random moments; every call made
 * while it is stopped must end within the bound. Results vary with the moment (EAGAIN, a
 * message, ETIMEDOUT) and are not printed: only that the time was within the bound. */
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "harness.h"

#define ROUNDS 60
/* Generous: the emulation's bound is 20 ms per lock; this only has to tell a bound from a hang. */
#define LIMIT_NS 250000000LL
#define TIMED_MS 3

struct shared {
    volatile int stop;
    volatile unsigned long iterations;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned long long rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void wait_stopped(pid_t pid)
{
    while (t_proc_state(pid) != 'T')
        sched_yield();
}

static int late(long long start, long long allowed)
{
    return now_ns() - start > allowed;
}

int main(void)
{
    const char *name = t_qname("stopheld");
    mqd_t nb = t_mq_create("stopheld", 4, 16, O_NONBLOCK);
    mqd_t blocking = mq_open(name, O_RDWR);
    T_REQUIRE(blocking != (mqd_t)-1);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(sh != MAP_FAILED);

    t_child c = t_spawn();
    if (c.pid == 0) {
        char buf[16];
        unsigned prio;
        /* Sends and receives, with priorities that vary, so that the lock-free ring and the
         * locked queue both serve it. */
        for (unsigned i = 0; !sh->stop; i++) {
            mq_send(nb, "busy", 4, i % 3 == 0 ? i % 7 : 0);
            if (i % 2)
                mq_receive(nb, buf, sizeof buf, &prio);
            sh->iterations++;
        }
        exit(t_child_status());
    }

    int over = 0;
    char buf[16];
    unsigned prio;
    struct mq_attr attr;
    for (int round = 0; round < ROUNDS; round++) {
        /* Let the child run some calls, then stop it at a pseudo-random moment. */
        unsigned long seen = sh->iterations;
        unsigned long more = 1 + rng() % 50;
        while (sh->iterations - seen < more)
            sched_yield();
        T_REQUIRE(kill(c.pid, SIGSTOP) == 0);
        wait_stopped(c.pid);

        long long t = now_ns();
        mq_send(nb, "mine", 4, (unsigned)(rng() % 5));
        over += late(t, LIMIT_NS);
        t = now_ns();
        mq_receive(nb, buf, sizeof buf, &prio);
        over += late(t, LIMIT_NS);
        t = now_ns();
        mq_getattr(nb, &attr);
        over += late(t, LIMIT_NS);
        t = now_ns();
        struct mq_attr nonblocking = { .mq_flags = O_NONBLOCK };
        mq_setattr(nb, &nonblocking, NULL);
        over += late(t, LIMIT_NS);
        struct timespec deadline = t_deadline_ms(TIMED_MS);
        t = now_ns();
        mq_timedreceive(blocking, buf, sizeof buf, &prio, &deadline);
        over += late(t, TIMED_MS * 1000000LL + LIMIT_NS);
        deadline = t_deadline_ms(TIMED_MS);
        t = now_ns();
        mq_timedsend(blocking, "mine", 4, 1, &deadline);
        over += late(t, TIMED_MS * 1000000LL + LIMIT_NS);

        T_REQUIRE(kill(c.pid, SIGCONT) == 0);
    }
    sh->stop = 1;
    t_join(&c, 0);
    t_check("within bound", over == 0);
    if (over)
        t_say("calls over the bound: %d", over);

    EXPECT_EQ(mq_close(blocking), 0);
    EXPECT_EQ(mq_close(nb), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
