/* mqt: */
/* Shown failing on the code before the sweeps ("leftovers: 60-114"): System V segment files
 * sysv/msq.* (sparse, ~4.9 MB each) and POSIX creation directories posix-tmp/new-* of processes
 * killed mid-create/remove were never reclaimed. The check after each round that every key has
 * one queue at most, which msgget finds, failed in 1 of 3 runs on 7c588b6: a remover killed
 * after taking its key's link away and before its commit left a live queue no key found,
 * shown by MSG_STAT beside the key's next queue until a creator swept it. */
/* Processes killed (SIGKILL) in the middle of creating and removing queues leave nothing behind
 * once the queues they used are removed: on the kernel a queue is either there (and removed by
 * mq_unlink / IPC_RMID) or not, and a killed process holds no other state. An emulation that
 * keeps queues in files must likewise end with exactly the files it has with no queue, or every
 * kill -9 in a create/remove would leak storage that no later user can reclaim.
 *
 * Baseline: one create/remove of each API, then the entries (files and directories, counted
 * recursively, links not followed) under $MQSHIM_DIR. Storm: rounds of three children that
 * create, use and remove POSIX queues (mq_open O_CREAT, mq_send, mq_close, mq_unlink) and
 * System V queues (msgget IPC_CREAT, msgsnd, IPC_RMID) on names and keys of a per-run set, each
 * killed with SIGKILL at a pseudo-random moment; a POSIX queue's mode is changed (fchmod of its
 * descriptor, 0640 then 0600, twice) after each open, and a change that fails is counted in
 * shared memory: a kill in the middle of one must neither make the next fail ("failed mode
 * changes: 0"; 106-122 in a run with the FIFO's second name and no removal of the names killed
 * changes leave, all EPERM) nor leak (with the library before, "leftovers: 17": a `meta`
 * written aside by a killed change kept its queue's directory from being removed). Not under
 * the Redis backend, whose descriptors take no fchmod. After each round (every child killed
 * and reaped), each key of the set has one live queue at most (MSG_STAT over every index), and
 * msgget(key, 0) finds the one it has.
 * Then the parent removes every queue of the set
 * that still exists, a "next user" creates and removes one queue of each API, and the entries
 * are counted again. The transcript shows the difference ("leftovers: 0"; on the kernel
 * configurations there is no namespace directory, so nothing to count). Children are killed on
 * purpose, so the test is uncounted. */
#include "harness.h"
#include "mqt_fault.h"

#define NSET 6                              /* names and keys in the set */
#define ROUNDS 60
#define CHILDREN 3
#define MAX_KILL_DELAY_US 4000

static const char *names[NSET];
static key_t keys[NSET];
static volatile long *failed_mode_changes;     /* shared with the storm children: the count, */
static volatile int *last_mode_change_errno;   /* and the last failure's errno (for stderr) */
static int change_modes;

/* A storm child: creates, uses and removes queues of the set until it is killed. */
static void churn(uint64_t seed)
{
    fault_rng_state = seed;
    struct mq_attr a = { 0 };
    a.mq_maxmsg = 4;
    a.mq_msgsize = 32;
    struct t_msg m;
    memset(&m, 0, sizeof m);
    m.mtype = 1;
    for (;;) {
        int i = (int)fault_below(NSET);
        if (fault_below(2)) {
            mqd_t q = mq_open(names[i], O_RDWR | O_CREAT | O_NONBLOCK, 0600, &a);
            if (q != (mqd_t)-1) {
                for (int k = 0; change_modes && k < 4; k++)
                    if (fchmod(q, k % 2 ? 0600 : 0640) != 0) {
                        *last_mode_change_errno = errno;
                        __atomic_fetch_add(failed_mode_changes, 1, __ATOMIC_RELAXED);
                    }
                mq_send(q, "storm", 5, 0);
                mq_close(q);
            }
            mq_unlink(names[i]);
        } else {
            int id = msgget(keys[i], IPC_CREAT | 0600);
            if (id >= 0) {
                msgsnd(id, &m, 5, IPC_NOWAIT);
                msgctl(id, IPC_RMID, NULL);
            }
        }
    }
}

/* One create and remove of each API, as a fresh user of the namespace would. */
static void create_and_remove_one_each(const char *tag)
{
    mqd_t q = t_mq_create(tag, 4, 32, 0);
    T_REQUIRE(mq_close(q) == 0);
    T_REQUIRE(mq_unlink(t_qname(tag)) == 0);
    int id = t_msgget_new(tag, 0600, NULL);
    T_REQUIRE(msgctl(id, IPC_RMID, NULL) == 0);
}

/* Whether every key of the set has at most one live queue, and msgget finds the one it has
 * (MSG_STAT over every index, then msgget(key, 0)): on the kernel IPC_RMID is one step, so a
 * remover killed in it leaves the key's queue whole or gone, never a queue its key does not
 * find beside the key's next one. */
static int keys_whole(void)
{
    struct msqid_ds ds;
    int max = msgctl(0, MSG_INFO, &ds);
    if (max < 0)
        return 0;
    int count[NSET] = { 0 };
    for (int i = 0; i <= max; i++)
        if (msgctl(i, MSG_STAT, &ds) >= 0)
            for (int k = 0; k < NSET; k++)
                count[k] += ds.msg_perm.__key == keys[k];
    int whole = 1;
    for (int k = 0; k < NSET; k++) {
        int id = msgget(keys[k], 0);
        if (count[k] > 1 || (id >= 0) != (count[k] == 1)) {
            fprintf(stderr, "key %d: %d live queues, msgget -> %d\n", k, count[k], id);
            whole = 0;
        }
    }
    return whole;
}

int main(void)
{
    fault_seed("fault_kill9_storm_leaks");
    t_uncounted();
    const char *ns = fault_namespace();

    /* The set: names, and keys reserved by creating and removing a queue on each. */
    for (int i = 0; i < NSET; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "storm%d", i);
        names[i] = t_qname(tag);
        int id = t_msgget_new(tag, 0600, &keys[i]);
        T_REQUIRE(msgctl(id, IPC_RMID, NULL) == 0);
    }
    create_and_remove_one_each("first");
    long baseline = fault_count_entries(ns);
    void *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(shared != MAP_FAILED);
    failed_mode_changes = shared;
    last_mode_change_errno = (volatile int *)((char *)shared + 64);
    const char *backend = getenv("MQSHIM_BACKEND");
    change_modes = !(backend && strcmp(backend, "redis") == 0);

    int broken_round = -1;
    for (int round = 0; round < ROUNDS; round++) {
        pid_t kids[CHILDREN];
        for (int c = 0; c < CHILDREN; c++) {
            uint64_t seed = fault_rand();
            kids[c] = t_fork();
            if (kids[c] == 0)
                churn(seed);
        }
        for (int c = 0; c < CHILDREN; c++) {
            fault_sleep_us((long)fault_below(MAX_KILL_DELAY_US));
            kill(kids[c], SIGKILL);
        }
        for (int c = 0; c < CHILDREN; c++)
            t_reap(kids[c]);
        if (!keys_whole() && broken_round < 0)
            broken_round = round;
    }
    t_check("after every round, each key had one queue at most, which msgget found", broken_round < 0);

    /* Remove whatever of the set the storm left. */
    for (int i = 0; i < NSET; i++) {
        if (mq_unlink(names[i]) != 0 && errno != ENOENT)
            t_say("mq_unlink(set name) -> -1 %s", t_errno_name(errno));
        int id = msgget(keys[i], 0);
        if (id >= 0 && msgctl(id, IPC_RMID, NULL) != 0)
            t_say("msgctl(set key, IPC_RMID) -> -1 %s", t_errno_name(errno));
        else if (id < 0 && errno != ENOENT)
            t_say("msgget(set key, 0) -> -1 %s", t_errno_name(errno));
    }
    t_say("set removed");
    t_say("failed mode changes: %ld", *failed_mode_changes);
    if (*failed_mode_changes != 0)
        fprintf(stderr, "the last failed mode change: %s\n", t_errno_name(*last_mode_change_errno));
    if (*failed_mode_changes != 0)
        t_failures++;

    create_and_remove_one_each("next");
    t_say("next user created and removed one queue of each API");

    long left = fault_count_entries(ns) - baseline;
    t_say("leftovers: %ld", left);
    if (left != 0)
        t_failures++;
    return t_finish();
}
