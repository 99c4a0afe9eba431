/* The close of the registered process's descriptor removes its notification registration even
 * when another process is stopped (SIGSTOP) at any moment of a call on the queue — for the
 * emulation, possibly while it holds the queue's lock: a new descriptor of the same process
 * then registers again (0, not EBUSY). On the kernel a stopped process holds no lock. A busy
 * child sends and receives on the queue, which always holds a message or two (so that no send
 * fires the registration); the test registers, stops the child at a pseudo-random moment,
 * closes, continues the child, and registers again, many times.
 * Shown failing on the code before this test (6c58c4c, shim-emulate): each close made while the
 * child was stopped holding the lock left the registration in place, and the next mq_notify
 * failed with EBUSY ("mq_notify after a close and a new open: some failed (first EBUSY)"). */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 60

int main(void)
{
    fault_seed("posix_notify_removed_by_close_while_holder_stopped");
    const char *name = t_qname("closestop");
    mqd_t q = fault_busy_queue("closestop");
    struct fault_holder holder = fault_holder_start(fault_busy_send_receive, NULL);

    int registered = 0, failed = 0, first_errno = 0;
    for (int round = 0; round < ROUNDS; round++) {
        mqd_t mine = mq_open(name, O_RDWR | O_NONBLOCK);
        T_REQUIRE(mine != (mqd_t)-1);
        registered += fault_notify_none(mine, 1) == 0;
        fault_holder_stop(&holder);
        mq_close(mine);
        fault_holder_continue(&holder);
        mqd_t again = mq_open(name, O_RDWR | O_NONBLOCK);
        T_REQUIRE(again != (mqd_t)-1);
        int got = fault_notify_none(again, 1);
        if (got != 0 && failed++ == 0)
            first_errno = got;
        fault_notify_none(again, 0);
        mq_close(again);
    }
    fault_holder_end(&holder, 0);
    fprintf(stderr, "posix_notify_removed_by_close_while_holder_stopped: %d of %d registrations met one left by a close\n", failed, ROUNDS);

    t_say("every first registration succeeded: %s", registered == ROUNDS ? "yes" : "no");
    if (failed == 0)
        t_say("mq_notify after a close and a new open: every one succeeded");
    else
        t_say("mq_notify after a close and a new open: some failed (first %s)", t_errno_name(first_errno));
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
