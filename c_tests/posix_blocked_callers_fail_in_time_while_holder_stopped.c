/* A caller blocked in mq_timedreceive/mq_timedsend fails with ETIMEDOUT at its deadline, and
 * one blocked in mq_receive/mq_send with EINTR when a signal handler runs, while another
 * process is stopped (SIGSTOP) at any moment of a call on the same queue, as on the kernel,
 * where a stopped process holds no lock. Under the emulation the stopped process may hold
 * the queue's lock, which the blocked caller needs to collect its outcome: unless a holder
 * already served it, it leaves its waiter record without the lock. A message sent after an
 * interrupted receiver left is then received as usual, not handed to the record it left, and
 * an interrupted sender's message is not sent.
 * A busy child asks for a notification on the queue, which the test holds (EBUSY): under the
 * emulation that looks at the holder's descriptors with the queue's lock held, and it
 * changes nothing a blocked caller waits for. Each round blocks a forked
 * receiver (the queue empty) or sender (the queue full), stops the busy child at a
 * pseudo-random moment, lets the blocked caller's deadline pass or signals it, and waits up
 * to a second for its answer before the busy child goes on.
 * Shown failing on the code before this test (454117d, shim-emulate): whenever the busy child
 * was stopped holding the queue's lock, the blocked caller answered only once it went on
 * ("blocked callers answered while the other process was stopped: not all (first: ...)"). */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 120
/* The timed callers' deadline, from the moment they start. */
#define DEADLINE_MS 30
/* How long a blocked caller's answer is waited for while the busy child is stopped, after its
 * deadline: the kernel's is immediate, the emulation's within milliseconds. */
#define ANSWER_MS 1000
#define MAXMSG 2

static mqd_t q;

/* A notification that only consumes itself. */
static int notify_none(void)
{
    struct sigevent none;
    memset(&none, 0, sizeof none);
    none.sigev_notify = SIGEV_NONE;
    return mq_notify(q, &none);
}

/* The stopped child's calls: a notification asked for while the test holds it (EBUSY; under
 * the emulation a look at whether its owner still has the queue open, with the queue's lock
 * held), and withdrawn, which does nothing for another's; neither serves a blocked caller. */
static void busy(unsigned i, void *ctx)
{
    (void)ctx;
    if (notify_none() == 0 || i % 8 == 0)
        mq_notify(q, NULL);
}

static const char *const KINDS[4] = {
    "receiver, deadline", "receiver, signal", "sender, deadline", "sender, signal",
};

int main(void)
{
    fault_seed("posix_blocked_callers_fail_in_time_while_holder_stopped");
    q = t_mq_create("blockstop", MAXMSG, 16, 0);
    struct fault_holder holder = fault_holder_start(busy, NULL);

    int rounds = 0, late = 0, first_late = -1, wrong = 0, first_wrong = -1, wrong_errno = 0;
    int never_blocked = 0, lost = 0, sent_anyway = 0;
    int64_t slowest_ns = 0;
    char buf[16];
    unsigned prio;
    for (int round = 0; round < ROUNDS && late == 0; round++) {
        int kind = round % 4, receiving = kind < 2, timed = kind % 2 == 0;
        /* Empty for a receiver, full for a sender. */
        struct mq_attr attr;
        T_REQUIRE(mq_getattr(q, &attr) == 0);
        for (long n = attr.mq_curmsgs; receiving ? n > 0 : n < MAXMSG; n += receiving ? -1 : 1)
            T_REQUIRE(receiving ? mq_receive(q, buf, sizeof buf, &prio) >= 0 : mq_send(q, "full", 4, 1) == 0);

        /* The test's notification (the busy child's request, got between the test's, is
         * withdrawn at once). */
        mq_notify(q, NULL);
        int registered = 0;
        for (int tries = 0; tries < 100000 && !registered; tries++)
            registered = notify_none() == 0 || errno != EBUSY;
        T_REQUIRE(registered);

        int fds[2];
        T_REQUIRE(pipe(fds) == 0);
        /* When the blocked caller's answer is due: its deadline (at most this, as it takes its
         * deadline after the fork), or the signal. */
        int64_t due_ns = fault_now_ns() + (int64_t)DEADLINE_MS * 1000000;
        pid_t pid = t_fork();
        if (pid == 0) {
            fault_catch(SIGUSR1);
            struct timespec deadline = t_deadline_ms(DEADLINE_MS);
            long r;
            if (receiving)
                r = timed ? mq_timedreceive(q, buf, sizeof buf, &prio, &deadline) : mq_receive(q, buf, sizeof buf, &prio);
            else
                r = timed ? mq_timedsend(q, "mine", 4, 2, &deadline) : mq_send(q, "mine", 4, 2);
            fault_answer_and_exit(fds[1], r);
        }
        close(fds[1]);
        if (!fault_caller_blocked(pid, fds[0], &never_blocked))
            continue;
        rounds++;

        fault_holder_stop(&holder);
        if (!timed)
            due_ns = fault_now_ns();
        int e = timed ? fault_answer(fds[0], DEADLINE_MS + ANSWER_MS) : fault_answer_signalled(pid, SIGUSR1, fds[0], ANSWER_MS);
        if (e == -1 && late++ == 0)
            first_late = kind;
        if (e != -1 && fault_now_ns() - due_ns > slowest_ns)
            slowest_ns = fault_now_ns() - due_ns;
        fault_holder_continue(&holder);
        if (e == -1)
            e = timed ? fault_answer(fds[0], 10000) : fault_answer_signalled(pid, SIGUSR1, fds[0], 10000);
        if (e != (timed ? ETIMEDOUT : EINTR) && wrong++ == 0) {
            first_wrong = kind;
            wrong_errno = e;
        }
        t_reap(pid);
        close(fds[0]);

        if (receiving) {
            /* The receiver left: a message sent now stays in the queue for the next one. */
            struct timespec soon = t_deadline_ms(1000);
            if (mq_send(q, "after", 5, 3) != 0 || mq_timedreceive(q, buf, sizeof buf, &prio, &soon) != 5 || prio != 3)
                lost++;
        } else {
            /* The sender left: its message was not sent (the queue holds the two it had). */
            T_REQUIRE(mq_getattr(q, &attr) == 0);
            int mine = 0;
            while (attr.mq_curmsgs-- > 0)
                if (mq_receive(q, buf, sizeof buf, &prio) == 4 && prio == 2)
                    mine = 1;
            sent_anyway += mine;
        }
    }
    fault_holder_end(&holder, 0);
    fprintf(stderr, "posix_blocked_callers_fail_in_time_while_holder_stopped: %d rounds, %d late, %d never blocked, slowest answer %.1f ms\n",
            rounds, late, never_blocked, slowest_ns / 1e6);

    t_say("blocked callers in some rounds: %s", rounds > 0 ? "yes" : "no");
    t_say("every blocked caller blocked: %s", never_blocked == 0 ? "yes" : "no");
    if (late == 0)
        t_say("blocked callers answered while the other process was stopped: all");
    else
        t_say("blocked callers answered while the other process was stopped: not all (first: %s)", KINDS[first_late]);
    if (wrong == 0)
        t_say("their answers: ETIMEDOUT at the deadline, EINTR when signalled");
    else
        t_say("their answers: some wrong (first: %s, %s)", KINDS[first_wrong],
              wrong_errno == 0 ? "success" : wrong_errno < 0 ? "no answer" : t_errno_name(wrong_errno));
    t_say("a message sent after an interrupted receiver left was received: %s", lost == 0 ? "yes" : "no");
    t_say("an interrupted sender's message was not sent: %s", sent_anyway == 0 ? "yes" : "no");
    mq_close(q);
    EXPECT_OK(mq_unlink(t_qname("blockstop")));
    return t_finish();
}
