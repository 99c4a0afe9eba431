/* IPC_SET of a queue whose user is stopped (SIGSTOP) at any moment of a call — for the
 * emulation, possibly while it holds the queue's lock — succeeds, as on the kernel,
 * where a stopped process holds no lock (for the emulation, after the lock's bound of 20 ms
 * of waiting for a holder that may only be slow), and IPC_STAT then shows what it set. A busy child
 * sends to and receives from a queue of the test's key, and now and then removes it and makes
 * it again (a new queue's first calls take longest under its lock); the test stops it many
 * times at pseudo-random moments and sets the mode and msg_qbytes of whatever queue the key
 * has, alternating between two values of each.
 * Shown failing on the code before this test (7906b6d, shim-emulate): IPC_SET failed with
 * EAGAIN, after waiting 20 ms, whenever the child was stopped holding the queue's lock
 * ("IPC_SET while the child was stopped: some failed (first EAGAIN)"). */
#include "harness.h"
#include "mqt_fault.h"

#define ROUNDS 300

struct msg {
    long mtype;
    char text[16];
};

static key_t key;

/* The stopped child's calls: sends of two types and receives of either, so that the lock-free
 * ring and the locked queue both serve it, and every fourth call a removal; a queue found
 * removed is made again. */
static void busy(unsigned i, void *ctx)
{
    static int id = -1;
    (void)ctx;
    fault_sysv_busy_call(&id, key, 1 + i % 2, 1, i % 4 == 1 ? 2 : 0, i % 4 == 3);
}

int main(void)
{
    fault_seed("sysv_set_while_holder_stopped");
    (void)t_msgget_new("setstop", 0600, &key);
    struct fault_holder holder = fault_holder_start(busy, NULL);

    struct fault_tally sets = { 0, 0, 0 };
    int shown = 0;
    for (int round = 0; round < ROUNDS; round++) {
        fault_holder_stop(&holder);
        int id = msgget(key, 0);
        struct msqid_ds ds;
        if (id >= 0 && msgctl(id, IPC_STAT, &ds) == 0) {
            unsigned mode = round % 2 ? 0640 : 0600;
            unsigned long qbytes = round % 2 ? 8000 : 16000;
            ds.msg_perm.mode = mode;
            ds.msg_qbytes = qbytes;
            int set = msgctl(id, IPC_SET, &ds) == 0;
            fault_tally_add(&sets, set);
            struct msqid_ds after;
            if (set && msgctl(id, IPC_STAT, &after) == 0 && (after.msg_perm.mode & 0777) == mode && after.msg_qbytes == qbytes)
                shown++;
        }
        fault_holder_continue(&holder);
    }
    fault_holder_end(&holder, 0);
    fault_tally_say(&sets, "sysv_set_while_holder_stopped", ROUNDS, "IPC_SET", "set");
    t_say("IPC_STAT after each IPC_SET showed what it set: %s", shown == sets.done ? "yes" : "no");
    int id = msgget(key, 0);
    if (id >= 0)
        (void)msgctl(id, IPC_RMID, NULL);
    return t_finish();
}
