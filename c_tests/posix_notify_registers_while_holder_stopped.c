/* mq_notify registers, and removes its registration, while another process is stopped
 * (SIGSTOP) at any moment of a call on the queue — for the emulation, possibly while it holds
 * the queue's lock, where mq_notify failed with EAGAIN (an errno the kernel's never gives). On
 * the kernel a stopped process holds no lock. A busy child sends and receives on the queue,
 * which always holds a message or two (so that no send fires the registration); each round
 * stops the child at a pseudo-random moment and, while it is stopped, registers (0), registers
 * again (EBUSY: this process's own registration stands), removes it (0) and registers once
 * more (0); then continues the child, registers again (EBUSY: the registration made while it
 * was stopped is in place) and removes it. Last, a signal registration made while the child is
 * stopped is delivered once the child has ended and the queue, emptied, receives a message.
 * Shown failing on the code before (9d0be5a, shim-emulate): EAGAIN at the registrations made
 * while the child was stopped inside its lock, in 5-8 of the 150 rounds under the runner (95
 * of 150 run alone). */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 150
#define MSGSIZE 8192

static mqd_t busy_q;

/* The stopped child's calls: a send and a receive, with priorities that vary, so that the
 * queue (never empty, its priorities rising) stays in the general structure and every call
 * takes its lock; whole messages, so that it holds the lock a good part of its time. */
static void busy(unsigned i, void *ctx)
{
    (void)ctx;
    static char buf[MSGSIZE];
    unsigned prio;
    mq_send(busy_q, buf, sizeof buf, i % 3);
    mq_receive(busy_q, buf, sizeof buf, &prio);
}

/* One step of a round: the result of mq_notify, compared with what the kernel gives. */
struct step {
    const char *what;
    int expected_errno; /* 0: success */
    int failed;
    int first_errno;
};

static void check(struct step *s, int rc)
{
    int got = rc == 0 ? 0 : errno;
    if (got != s->expected_errno && s->failed++ == 0)
        s->first_errno = got;
}

static void say(const struct step *s)
{
    if (s->failed == 0)
        t_say("%s: every one as the kernel's", s->what);
    else
        t_say("%s: %d of %d not as the kernel's (first %s)", s->what, s->failed, ROUNDS,
              s->first_errno ? t_errno_name(s->first_errno) : "success");
}

int main(void)
{
    fault_seed("posix_notify_registers_while_holder_stopped");
    const char *name = t_qname("notifystop");
    mqd_t q = t_mq_create("notifystop", 10, MSGSIZE, O_NONBLOCK);
    EXPECT_EQ(mq_send(q, "kept", 4, 0), 0);
    busy_q = q;
    struct fault_holder holder = fault_holder_start(busy, NULL);

    struct sigevent none;
    memset(&none, 0, sizeof none);
    none.sigev_notify = SIGEV_NONE;
    struct step first = { "register while stopped", 0, 0, 0 };
    struct step busy_own = { "register again while stopped", EBUSY, 0, 0 };
    struct step removed = { "remove while stopped", 0, 0, 0 };
    struct step again = { "register after the removal while stopped", 0, 0, 0 };
    struct step stands = { "register once continued", EBUSY, 0, 0 };
    struct step removed_after = { "remove once continued", 0, 0, 0 };
    int slow = 0; /* first registrations that took over 1 ms: the holder was inside its lock */
    for (int round = 0; round < ROUNDS; round++) {
        fault_holder_stop(&holder);
        int64_t t0 = fault_now_ns();
        check(&first, mq_notify(q, &none));
        slow += fault_now_ns() - t0 > 1000000;
        check(&busy_own, mq_notify(q, &none));
        check(&removed, mq_notify(q, NULL));
        check(&again, mq_notify(q, &none));
        fault_holder_continue(&holder);
        check(&stands, mq_notify(q, &none));
        check(&removed_after, mq_notify(q, NULL));
    }
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    struct sigevent signal_ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
    fault_holder_stop(&holder);
    int64_t t0 = fault_now_ns();
    EXPECT_EQ(mq_notify(q, &signal_ev), 0);
    fprintf(stderr, "signal registration while stopped took %.2f ms\n", (fault_now_ns() - t0) / 1e6);
    fault_holder_continue(&holder);
    fault_holder_end(&holder, 0);
    char buf[MSGSIZE];
    int drained = 0;
    while (mq_receive(q, buf, sizeof buf, NULL) >= 0)
        drained++;
    t_check("queue emptied (EAGAIN)", errno == EAGAIN && drained >= 1);
    EXPECT_EQ(mq_send(q, "now", 3, 0), 0);
    struct timespec second = { 1, 0 };
    siginfo_t info;
    t_check("SIGUSR1 delivered once the queue went non-empty", sigtimedwait(&usr1, &info, &second) == SIGUSR1);
    fprintf(stderr, "posix_notify_registers_while_holder_stopped: first registration failed in %d of %d rounds, took over 1 ms in %d\n",
            first.failed, ROUNDS, slow);

    say(&first);
    say(&busy_own);
    say(&removed);
    say(&again);
    say(&stands);
    say(&removed_after);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
