/* A process stopped (SIGSTOP) at any moment of a call — for the emulation, possibly while it
 * holds a queue's lock — never makes another process's non-blocking call (mq_send/mq_receive
 * on an O_NONBLOCK description, mq_getattr, mq_setattr) wait, nor a timed call
 * (mq_timedsend/mq_timedreceive) wait much past its deadline. On the kernel a stopped process
 * holds no lock. A busy child is stopped many times at pseudo-random moments; every call made
 * while it is stopped must end within the bound. Results vary with the moment (EAGAIN, a
 * message, ETIMEDOUT) and are not printed: only that the time was within the bound. */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 60
/* Generous: the emulation gives up on a stopped holder after about 1.5 ms (on one asleep after
 * 20 ms); this only has to tell a bound from a hang. The slowest call goes to stderr. */
#define LIMIT_NS 250000000LL
#define TIMED_MS 3

static mqd_t nb;

/* The stopped child's calls: sends and receives, with priorities that vary, so that the
 * lock-free ring and the locked queue both serve it. */
static void busy(unsigned i, void *ctx)
{
    (void)ctx;
    char buf[16];
    unsigned prio;
    mq_send(nb, "busy", 4, i % 3 == 0 ? i % 7 : 0);
    if (i % 2)
        mq_receive(nb, buf, sizeof buf, &prio);
}

int main(void)
{
    fault_seed("posix_nonblocking_calls_bounded_while_holder_stopped");
    const char *name = t_qname("stopheld");
    nb = t_mq_create("stopheld", 4, 16, O_NONBLOCK);
    mqd_t blocking = mq_open(name, O_RDWR);
    T_REQUIRE(blocking != (mqd_t)-1);
    struct fault_holder holder = fault_holder_start(busy, NULL);

    int over = 0;
    char buf[16];
    unsigned prio;
    struct mq_attr attr;
    for (int round = 0; round < ROUNDS; round++) {
        fault_holder_stop(&holder);

        int64_t t = fault_now_ns();
        mq_send(nb, "mine", 4, (unsigned)fault_below(5));
        over += fault_late(t, 0, LIMIT_NS);
        t = fault_now_ns();
        mq_receive(nb, buf, sizeof buf, &prio);
        over += fault_late(t, 0, LIMIT_NS);
        t = fault_now_ns();
        mq_getattr(nb, &attr);
        over += fault_late(t, 0, LIMIT_NS);
        t = fault_now_ns();
        struct mq_attr nonblocking = { .mq_flags = O_NONBLOCK };
        mq_setattr(nb, &nonblocking, NULL);
        over += fault_late(t, 0, LIMIT_NS);
        struct timespec deadline = t_deadline_ms(TIMED_MS);
        t = fault_now_ns();
        mq_timedreceive(blocking, buf, sizeof buf, &prio, &deadline);
        over += fault_late(t, TIMED_MS * 1000000LL, LIMIT_NS);
        deadline = t_deadline_ms(TIMED_MS);
        t = fault_now_ns();
        mq_timedsend(blocking, "mine", 4, 1, &deadline);
        over += fault_late(t, TIMED_MS * 1000000LL, LIMIT_NS);

        fault_holder_continue(&holder);
    }
    fault_holder_end(&holder, over);

    EXPECT_EQ(mq_close(blocking), 0);
    EXPECT_EQ(mq_close(nb), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
