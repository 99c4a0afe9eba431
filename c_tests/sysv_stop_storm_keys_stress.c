/* mqt: */
/* Shown failing on the code before this test (65175ed, shim-emulate, run alone): "msgget(key,
 * IPC_CREAT) failures: some (first EAGAIN)" in each of 4 runs (one of 30 s: 6 failures in 3.9
 * million creations); on a766724 in 1 of 2 runs of 60 s. A creator that found a key's stale link (left
 * by a creation given up while its creator was stopped) waited for the lock under which such
 * links are replaced, and failed with EAGAIN after 20 ms when its holder was stopped; it now
 * takes the lock over (README, "System V queues"). In the runner, beside the kernel's cases,
 * the emulation makes about a third as many creations, and the old code rarely failed there
 * in 60 s; at 1 s (`make test`) it checks the transcript only. */
/* Stop storm over a few keys: NPROC processes make and remove queues of NKEYS keys
 * (msgget(key, IPC_CREAT), a message sent, then IPC_RMID half the time) while the parent stops
 * one of them (SIGSTOP) at a random moment for up to 30 ms and continues it, over and over. On
 * the kernel a stopped task holds nothing another one needs: every msgget(key, IPC_CREAT)
 * succeeds, and at the end each key has at most one queue, the one msgget finds. Under the emulation a stopped
 * process may be in the middle of making a queue, removing one, or replacing a key's stale
 * link: none of it may make another process's msgget fail, or leave a key with two queues; nor
 * may a stopped process that holds a queue's lock make its IPC_RMID fail (other than EINVAL or
 * EIDRM, for a queue another child removed first, as on the kernel). The emulation's IPC_RMID
 * failed with EAGAIN then, 0-7 times a minute, until it learned to commit without the lock
 * (README, "Stopped processes and corrupt locks"; sysv_rmid_while_holder_stopped shows it in
 * every run).
 *
 * Length: MQT_STRESS_SECONDS (default 1; `make stress` runs it long). Children are stopped and
 * killed on purpose: the test is uncounted. */
#include "harness.h"

#include <sys/mman.h>

#define STRESS_MAXPAYLOAD 16
#include "mqt_stress.h"

#define NPROC 6
#define NKEYS 4

/* What the children tell the parent, in a shared mapping. */
struct storm_shared {
    int msgget_failures;
    int first_errno;
    int rmid_failures;
    int rmid_first_errno;
    int creations;
};

static key_t storm_keys[NKEYS];

/* A child's work until it is killed: make a queue of a random key, send it a message, remove
 * it half the time. */
static void storm_child(struct storm_shared *shared)
{
    srand((unsigned)getpid());
    for (;;) {
        alarm(t_timeout_seconds());
        key_t key = storm_keys[rand() % NKEYS];
        int id = msgget(key, IPC_CREAT | 0600);
        if (id < 0) {
            int e = errno;
            if (__atomic_fetch_add(&shared->msgget_failures, 1, __ATOMIC_RELAXED) == 0)
                __atomic_store_n(&shared->first_errno, e, __ATOMIC_RELAXED);
            continue;
        }
        __atomic_fetch_add(&shared->creations, 1, __ATOMIC_RELAXED);
        struct { long mtype; char text[4]; } m = { 1, "x" };
        (void)msgsnd(id, &m, 1, IPC_NOWAIT);
        if (rand() % 2 && msgctl(id, IPC_RMID, NULL) < 0 && errno != EINVAL && errno != EIDRM) {
            int e = errno;
            if (__atomic_fetch_add(&shared->rmid_failures, 1, __ATOMIC_RELAXED) == 0)
                __atomic_store_n(&shared->rmid_first_errno, e, __ATOMIC_RELAXED);
        }
    }
}

/* How many queues the system shows with each of the run's keys (MSG_STAT over every index). */
static void storm_count_queues(int counts[NKEYS])
{
    struct msginfo info;
    int max_idx = msgctl(0, MSG_INFO, (struct msqid_ds *)&info);
    for (int idx = 0; idx <= max_idx; idx++) {
        struct msqid_ds ds;
        if (msgctl(idx, MSG_STAT, &ds) < 0)
            continue;
        for (int k = 0; k < NKEYS; k++)
            if (ds.msg_perm.__key == storm_keys[k])
                counts[k]++;
    }
}

int main(void)
{
    t_uncounted();
    t_msgkeys_free("storm", NKEYS, storm_keys);
    struct storm_shared *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(shared != MAP_FAILED);
    memset(shared, 0, sizeof *shared);

    pid_t kids[NPROC];
    for (int p = 0; p < NPROC; p++) {
        kids[p] = t_fork();
        if (kids[p] == 0)
            storm_child(shared);
    }
    srand(1);
    long long end = stress_now_ns() + (long long)(stress_seconds() * 1e9);
    while (stress_now_ns() < end) {
        alarm(t_timeout_seconds());
        pid_t kid = kids[rand() % NPROC];
        kill(kid, SIGSTOP);
        usleep((useconds_t)(rand() % 30000));
        kill(kid, SIGCONT);
        usleep((useconds_t)(rand() % 2000));
    }
    for (int p = 0; p < NPROC; p++) {
        kill(kids[p], SIGKILL);
        t_reap(kids[p]);
    }

    t_say("the creators made queues: %s", shared->creations > 0 ? "yes" : "no");
    if (shared->msgget_failures == 0)
        t_say("msgget(key, IPC_CREAT) failures: none");
    else
        t_say("msgget(key, IPC_CREAT) failures: some (first %s)", t_errno_name(shared->first_errno));
    if (shared->rmid_failures == 0)
        t_say("IPC_RMID failures other than EINVAL or EIDRM: none");
    else
        t_say("IPC_RMID failures other than EINVAL or EIDRM: some (first %s)", t_errno_name(shared->rmid_first_errno));
    int counts[NKEYS] = { 0 };
    storm_count_queues(counts);
    for (int k = 0; k < NKEYS; k++) {
        int id = msgget(storm_keys[k], 0);
        if (counts[k] <= 1 && (id >= 0) == (counts[k] == 1))
            t_say("key %d: at most one queue, the one msgget finds", k);
        else
            t_say("key %d: %d queues, msgget %s", k, counts[k], id >= 0 ? "finds one" : t_errno_name(errno));
        if (id >= 0)
            (void)msgctl(id, IPC_RMID, NULL);
    }
    munmap(shared, sizeof *shared);
    return t_finish();
}
