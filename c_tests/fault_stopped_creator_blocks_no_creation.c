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
#include <poll.h>
#include <sys/mman.h>

#define ROUNDS 120
/* Creation and removal take microseconds; the rest absorbs scheduling on a loaded 2-CPU
 * machine. A call that waits for the stopped process waits until the round ends (seconds). */
#define BOUND_NS (500 * 1000000LL)
#define PROBER_WAIT_MS 2000                /* a round's probe that takes longer is hung */

static key_t busy_key[2];
static key_t prober_key;

/* Shared with the children: the busy ones stop when `quit` is set; the prober says what it is
 * doing, for the report of a call that never returns. */
struct shared {
    volatile int quit;
    volatile int call;
};
static struct shared *shared;

enum probe_call { P_PRIVATE, P_KEYED, P_COUNT };
static const char *const probe_names[P_COUNT] = {
    "msgget(IPC_PRIVATE) + IPC_RMID", "msgget(key, IPC_CREAT) + IPC_RMID",
};

/* One busy child: creates and removes queues until told to quit. */
static void busy(key_t key, uint64_t seed)
{
    fault_rng_state = seed;
    while (!shared->quit) {
        int id = msgget(fault_below(2) ? IPC_PRIVATE : key, IPC_CREAT | 0600);
        if (id >= 0)
            msgctl(id, IPC_RMID, NULL);
    }
    exit(0);
}

/* A round's verdict, from prober to parent. */
struct probe_report {
    int call;                               /* first failure, or -1 */
    int err;                                /* its errno when it failed, else 0 */
    long long took_ms;
};

static int probe_one(enum probe_call c, struct probe_report *r)
{
    shared->call = c;
    int64_t start = fault_now_ns();
    errno = 0;
    int id = msgget(c == P_PRIVATE ? IPC_PRIVATE : prober_key, IPC_CREAT | IPC_EXCL | 0600);
    int ok = id >= 0 && msgctl(id, IPC_RMID, NULL) == 0;
    int e = errno;
    int64_t took = fault_now_ns() - start;
    shared->call = -1;
    if (ok && took <= BOUND_NS)
        return 1;
    r->call = c;
    r->err = ok ? 0 : e;
    r->took_ms = took / 1000000;
    return 0;
}

/* The prober: for each byte from the parent, one probe of each call; one report back. */
static void prober(t_chan *cmd, int report_fd)
{
    for (;;) {
        char b;
        ssize_t n = read(cmd->rd, &b, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != 1 || b == 'q')
            break;
        struct probe_report r = { -1, 0, 0 };
        for (int c = 0; c < P_COUNT; c++)
            if (!probe_one((enum probe_call)c, &r))
                break;
        if (write(report_fd, &r, sizeof r) != (ssize_t)sizeof r)
            break;
    }
    exit(0);
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

    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(shared != MAP_FAILED);
    shared->call = -1;

    pid_t busy_pid[2];
    for (int i = 0; i < 2; i++) {
        uint64_t seed = fault_rand();
        busy_pid[i] = t_fork();
        if (busy_pid[i] == 0)
            busy(busy_key[i], seed);
    }
    t_chan cmd = t_chan_open();
    int rep[2];
    t_pipe_cloexec(rep);
    pid_t prober_pid = t_fork();
    if (prober_pid == 0) {
        close(rep[0]);
        prober(&cmd, rep[1]);
    }
    close(rep[1]);

    struct probe_report first = { -1, 0, 0 };
    int hung = -1;
    for (int round = 0; round < ROUNDS && first.call < 0 && hung < 0; round++) {
        fault_sleep_us((long)fault_below(1000));   /* let the busy children run */
        uint64_t who = fault_below(3);             /* 0, 1, or both */
        if (who != 1)
            fault_stop_process(busy_pid[0]);
        if (who != 0)
            fault_stop_process(busy_pid[1]);
        char what = 'p';
        T_REQUIRE(write(cmd.wr, &what, 1) == 1);
        struct pollfd p = { rep[0], POLLIN, 0 };
        int ready;
        do
            ready = poll(&p, 1, PROBER_WAIT_MS);
        while (ready < 0 && errno == EINTR);
        if (ready == 1) {
            struct probe_report r;
            if (read(rep[0], &r, sizeof r) == (ssize_t)sizeof r)
                first = r;
            else
                hung = P_COUNT;                    /* the prober died */
        } else {
            hung = shared->call;
        }
        kill(busy_pid[0], SIGCONT);
        kill(busy_pid[1], SIGCONT);
    }

    /* The busy children finish their last creation and removal, and exit. */
    shared->quit = 1;
    for (int i = 0; i < 2; i++) {
        kill(busy_pid[i], SIGCONT);
        EXPECT_OK(t_reap(busy_pid[i]));
    }
    if (hung < 0) {
        char quit = 'q';
        if (write(cmd.wr, &quit, 1) != 1) { /* the prober then ends on EOF */ }
        t_reap(prober_pid);
    } else {
        kill(prober_pid, SIGKILL);
        t_reap(prober_pid);
    }

    if (hung >= 0) {
        t_say("first failure: %s did not return within %d ms",
              hung < P_COUNT && hung >= 0 ? probe_names[hung] : "the prober (died)",
              PROBER_WAIT_MS);
        t_failures++;
    } else if (first.call >= 0) {
        if (first.err)
            t_say("first failure: %s -> %s after %lld ms", probe_names[first.call],
                  t_errno_name(first.err), first.took_ms);
        else
            t_say("first failure: %s took %lld ms", probe_names[first.call], first.took_ms);
        t_failures++;
    } else {
        t_say("every creation and removal succeeded within its bound: yes");
    }
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
