/* mqt: static skip-config static-musl */
/* (static-musl: musl's own SIGEV_THREAD helper; this test is about the registration, not it.) */
/* A SIGEV_THREAD registration stays in force while a process is stopped (SIGSTOP) at any
 * moment of a call on its queue — for the emulation, possibly while it holds the queue's lock —
 * and the process that registered makes and removes registrations on another queue meanwhile
 * (which, in the emulation, makes the relay thread that runs the functions look at every queue
 * it watches). Once the stopped process has ended and the queue, emptied, receives a message,
 * the function runs. On the kernel a stopped process holds no lock.
 * Shown failing on the code before this test (9d0be5a, shim-emulate): the relay thread took a
 * lock it could not get (EAGAIN behind the stopped holder) for a registration that was over,
 * let go of it, and the function never ran ("function ran once the queue went non-empty: no"). */
#include "harness.h"
#include "mqt_fault.h"
#include <poll.h>

#define ROUNDS 100

static t_chan ran;

static void tfunc(union sigval sv)
{
    (void)sv;
    t_chan_post(&ran);
}

int main(void)
{
    fault_seed("posix_notify_thread_kept_while_another_holder_stopped");
    const char *name = t_qname("threadkept");
    const char *other_name = t_qname("threadother");
    mqd_t q = fault_busy_queue("threadkept");
    mqd_t other = t_mq_create("threadother", 4, 16, O_NONBLOCK);
    ran = t_chan_open();
    struct sigevent thread_ev;
    memset(&thread_ev, 0, sizeof thread_ev);
    thread_ev.sigev_notify = SIGEV_THREAD;
    thread_ev.sigev_notify_function = tfunc;
    EXPECT_EQ(mq_notify(q, &thread_ev), 0);

    struct fault_holder holder = fault_holder_start(fault_busy_send_receive, NULL);
    int made = 0;
    for (int round = 0; round < ROUNDS; round++) {
        fault_holder_stop(&holder);
        made += mq_notify(other, &thread_ev) == 0;
        fault_sleep_us(5000); /* time for the relay thread to look (no handshake exists) */
        mq_notify(other, NULL);
        fault_holder_continue(&holder);
    }
    fault_holder_end(&holder, 0);
    t_check("every registration on the other queue made", made == ROUNDS);

    fault_busy_drain();
    EXPECT_EQ(mq_send(q, "now", 3, 0), 0);
    struct pollfd p = { .fd = ran.rd, .events = POLLIN };
    t_check("function ran once the queue went non-empty", poll(&p, 1, 2000) == 1);
    EXPECT_EQ(mq_close(other), 0);
    EXPECT_EQ(mq_unlink(other_name), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
