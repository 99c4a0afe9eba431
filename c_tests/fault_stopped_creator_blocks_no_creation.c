/* mqt: */
/* Shown failing on the code before System V creation stopped taking the namespace's registry
 * lock: a process stopped while it created or removed a queue held that lock, and every other
 * process's msgget(IPC_PRIVATE) and msgget(key, IPC_CREAT) failed with EAGAIN after 20 ms
 * until it ran again ("first failure: msgget(IPC_PRIVATE) -> EAGAIN"). */
/* A process stopped (SIGSTOP) in the middle of creating or removing System V queues keeps no
 * one else from creating theirs: on the kernel msgget takes the namespace's ids lock only
 * inside the system call, so a stopped task holds none of it, and another process's
 * msgget(IPC_PRIVATE) or msgget(key, IPC_CREAT) of a key of its own succeeds at once.
 *
 * Two "busy" children create and remove queues without pause, private ones and ones on keys of
 * their own; the parent stops one or both at pseudo-random moments, many times, and while they
 * are stopped a prober child creates and removes a private queue and a queue on its own key,
 * each within a bound (500 ms: a stopped holder is forever). The transcript says only whether
 * every creation and removal succeeded within its bound. The busy children are told to finish
 * at the end (their last queue removed), so nothing is left on either side. */
#include "harness.h"
#include "mqt_fault.h"
#include <sys/mman.h>

#define ROUNDS 120
/* Creation and removal take microseconds; the rest absorbs scheduling on a loaded 2-CPU
 * machine. A call that waits for the stopped process waits until the round ends (seconds). */
#define BOUND_NS (500 * 1000000LL)
#define PROBER_WAIT_MS 2000                /* a round's probe that takes longer is hung */

static key_t busy_key[2];
static key_t prober_key;

/* Set at the end: the busy children finish. */
static volatile int *quit;

enum probe_call { P_PRIVATE, P_KEYED, P_COUNT };
static const char *const probe_names[P_COUNT] = {
    "msgget(IPC_PRIVATE) + IPC_RMID", "msgget(key, IPC_CREAT) + IPC_RMID",
};

/* One busy child: creates and removes queues until told to quit. */
static void busy(key_t key, uint64_t seed)
{
    fault_rng_state = seed;
    while (!*quit) {
        int id = msgget(fault_below(2) ? IPC_PRIVATE : key, IPC_CREAT | 0600);
        if (id >= 0)
            msgctl(id, IPC_RMID, NULL);
    }
    exit(0);
}

/* The prober's round: a creation and removal of each kind, until one fails. */
static void probe_round(struct fault_prober *p, char what, struct fault_probe_report *r)
{
    (void)what;
    for (int c = 0; c < P_COUNT; c++) {
        *p->call = c;
        int64_t start = fault_now_ns();
        errno = 0;
        int id = msgget(c == P_PRIVATE ? IPC_PRIVATE : prober_key, IPC_CREAT | IPC_EXCL | 0600);
        int ok = id >= 0 && msgctl(id, IPC_RMID, NULL) == 0;
        if (!fault_probe_kept(p, c, ok, errno, start, BOUND_NS, r))
            return;
    }
}

/* A key of this run's own, free (its queue made, to find one, and removed again). */
static key_t free_key(const char *tag)
{
    key_t key;
    int id = t_msgget_new(tag, 0600, &key);
    T_REQUIRE(msgctl(id, IPC_RMID, NULL) == 0);
    return key;
}

int main(void)
{
    fault_seed("fault_stopped_creator_blocks_no_creation");
    busy_key[0] = free_key("busy0");
    busy_key[1] = free_key("busy1");
    prober_key = free_key("prober");

    quit = mmap(NULL, sizeof *quit, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(quit != MAP_FAILED);
    *quit = 0;

    pid_t busy_pid[2];
    for (int i = 0; i < 2; i++) {
        uint64_t seed = fault_rand();
        busy_pid[i] = t_fork();
        if (busy_pid[i] == 0)
            busy(busy_key[i], seed);
    }
    struct fault_prober prober;
    fault_prober_start(&prober, probe_round);

    struct fault_probe_report first = { -1, 0, 0 };
    int hung = -1;
    for (int round = 0; round < ROUNDS; round++)
        if (!fault_prober_round(&prober, busy_pid, 'p', PROBER_WAIT_MS, P_COUNT, &first, &hung))
            break;

    /* The busy children finish their last creation and removal, and exit. */
    *quit = 1;
    for (int i = 0; i < 2; i++) {
        kill(busy_pid[i], SIGCONT);
        EXPECT_OK(t_reap(busy_pid[i]));
    }
    fault_prober_end(&prober, hung, &first, probe_names, P_COUNT, PROBER_WAIT_MS,
                     "every creation and removal succeeded within its bound");
    /* Nothing is left on any key of the run. */
    for (int i = 0; i < 3; i++) {
        key_t k = i < 2 ? busy_key[i] : prober_key;
        errno = 0;
        int id = msgget(k, 0);
        t_say("key %d left: %s", i, id < 0 ? t_errno_name(errno) : "a queue");
        if (id >= 0)
            msgctl(id, IPC_RMID, NULL);
    }
    return t_finish();
}
