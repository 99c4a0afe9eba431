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

int main(void)
{
    fault_seed("posix_notify_registers_while_holder_stopped");
    const char *name = t_qname("notifystop");
    mqd_t q = fault_busy_queue("notifystop");
    struct fault_holder holder = fault_holder_start(fault_busy_send_receive, NULL);

    struct fault_step first = { "register while stopped", 0, 0, 0 };
    struct fault_step busy_own = { "register again while stopped", EBUSY, 0, 0 };
    struct fault_step removed = { "remove while stopped", 0, 0, 0 };
    struct fault_step again = { "register after the removal while stopped", 0, 0, 0 };
    struct fault_step stands = { "register once continued", EBUSY, 0, 0 };
    struct fault_step removed_after = { "remove once continued", 0, 0, 0 };
    int slow = 0; /* first registrations that took over 1 ms: the holder was inside its lock */
    for (int round = 0; round < ROUNDS; round++) {
        fault_holder_stop(&holder);
        int64_t t0 = fault_now_ns();
        fault_step_tally(&first, fault_notify_none(q, 1));
        slow += fault_now_ns() - t0 > 1000000;
        fault_step_tally(&busy_own, fault_notify_none(q, 1));
        fault_step_tally(&removed, fault_notify_none(q, 0));
        fault_step_tally(&again, fault_notify_none(q, 1));
        fault_holder_continue(&holder);
        fault_step_tally(&stands, fault_notify_none(q, 1));
        fault_step_tally(&removed_after, fault_notify_none(q, 0));
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
    fault_busy_drain();
    EXPECT_EQ(mq_send(q, "now", 3, 0), 0);
    struct timespec second = { 1, 0 };
    siginfo_t info;
    t_check("SIGUSR1 delivered once the queue went non-empty", sigtimedwait(&usr1, &info, &second) == SIGUSR1);
    fprintf(stderr, "posix_notify_registers_while_holder_stopped: first registration failed in %ld of %d rounds, took over 1 ms in %d\n",
            first.failed, ROUNDS, slow);

    fault_step_say(&first);
    fault_step_say(&busy_own);
    fault_step_say(&removed);
    fault_step_say(&again);
    fault_step_say(&stands);
    fault_step_say(&removed_after);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
