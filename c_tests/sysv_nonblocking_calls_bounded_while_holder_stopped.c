/* A process stopped (SIGSTOP) at any moment of a call — for the emulation, possibly while it
 * holds a queue's lock — never makes another process's calls that do not sleep in the kernel
 * wait: msgsnd and msgrcv with IPC_NOWAIT, msgctl IPC_STAT and IPC_SET, msgget of an existing
 * key. On the kernel a stopped process holds no lock. A busy child is stopped many times at
 * pseudo-random moments; every call made while it is stopped must end within the bound.
 * Results vary with the moment (EAGAIN, ENOMSG, a message) and are not printed: only that
 * the time was within the bound. */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 150
/* Generous: the emulation gives up on a stopped holder after about 1.5 ms (on one asleep after
 * 20 ms); this only has to tell a bound from a hang. The slowest call goes to stderr. */
#define LIMIT_NS 250000000LL

struct msg {
    long mtype;
    char text[16];
};

static int id;

/* The stopped child's calls: sends of several types and receives of one type or any, so that
 * the lock-free ring and the locked queue both serve it. */
static void busy(unsigned i, void *ctx)
{
    (void)ctx;
    struct msg m = { 1 + i % 3, "busy" };
    msgsnd(id, &m, 4, IPC_NOWAIT);
    if (i % 2)
        msgrcv(id, &m, sizeof m.text, i % 4 == 1 ? 2 : 0, IPC_NOWAIT);
}

int main(void)
{
    fault_seed("sysv_nonblocking_calls_bounded_while_holder_stopped");
    key_t key;
    id = t_msgget_new("stopheld", 0600, &key);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    /* Room for a few messages only, so that sends also meet a full queue. */
    ds.msg_qbytes = 64;
    T_REQUIRE(msgctl(id, IPC_SET, &ds) == 0);
    struct fault_holder holder = fault_holder_start(busy, NULL);

    int over = 0;
    struct msg m = { 1, "mine" };
    for (int round = 0; round < ROUNDS; round++) {
        fault_holder_stop(&holder);

        int64_t t = fault_now_ns();
        m.mtype = 1 + (long)fault_below(3);
        msgsnd(id, &m, 4, IPC_NOWAIT);
        over += fault_late(t, 0, LIMIT_NS);
        t = fault_now_ns();
        msgrcv(id, &m, sizeof m.text, (long)fault_below(3), IPC_NOWAIT);
        over += fault_late(t, 0, LIMIT_NS);
        t = fault_now_ns();
        struct msqid_ds now;
        msgctl(id, IPC_STAT, &now);
        over += fault_late(t, 0, LIMIT_NS);
        t = fault_now_ns();
        msgctl(id, IPC_SET, &ds);
        over += fault_late(t, 0, LIMIT_NS);
        t = fault_now_ns();
        msgget(key, 0600);
        over += fault_late(t, 0, LIMIT_NS);

        fault_holder_continue(&holder);
    }
    fault_holder_end(&holder, over);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
