/* IPC_RMID of a queue whose user is stopped (SIGSTOP) at any moment of a call — for the
 * emulation, possibly while it holds the queue's lock — succeeds, as on the kernel, where a
 * stopped process holds no lock: the queue is gone at once (a send to its id fails as for any
 * removed id), and the stopped process, continued, goes on with the key's next queue. A busy
 * child sends to and receives from a queue of the test's key (making it again whenever it
 * finds it removed); the test stops it many times at pseudo-random moments and removes
 * whatever queue the key has.
 * Shown failing on the code before this test (fab22d0, shim-emulate): about a third of the
 * removals failed with EAGAIN, after waiting 20 ms, when the child was stopped holding the
 * queue's lock ("IPC_RMID while the child was stopped: some failed (first EAGAIN)"). */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 120

struct msg {
    long mtype;
    char text[16];
};

static key_t key;

/* The stopped child's calls: sends of several types and receives of one type or any, so that
 * the lock-free ring and the locked queue both serve it; a queue found removed is made again. */
static void busy(unsigned i, void *ctx)
{
    static int id = -1;
    (void)ctx;
    fault_sysv_busy_call(&id, key, 1 + i % 3, i % 2, i % 4 == 1 ? 2 : 0, 0);
}

int main(void)
{
    fault_seed("sysv_rmid_while_holder_stopped");
    (void)t_msgget_new("rmidstop", 0600, &key);
    struct fault_holder holder = fault_holder_start(busy, NULL);

    struct fault_tally removals = { 0, 0, 0 };
    int reached = 0;
    for (int round = 0; round < ROUNDS; round++) {
        fault_holder_stop(&holder);
        int id = msgget(key, 0);
        if (id >= 0) {
            int removed = msgctl(id, IPC_RMID, NULL) == 0;
            fault_tally_add(&removals, removed);
            struct msg m = { 1, "late" };
            if (removed && (msgsnd(id, &m, 4, IPC_NOWAIT) == 0 || errno != EINVAL))
                reached++;
        }
        fault_holder_continue(&holder);
    }
    fault_holder_end(&holder, 0);
    fault_tally_say(&removals, "sysv_rmid_while_holder_stopped", ROUNDS, "IPC_RMID", "removed");
    t_say("a send to a removed id: %s", reached == 0 ? "EINVAL each time" : "reached a queue");
    int id = msgget(key, 0);
    if (id >= 0)
        (void)msgctl(id, IPC_RMID, NULL);
    return t_finish();
}
