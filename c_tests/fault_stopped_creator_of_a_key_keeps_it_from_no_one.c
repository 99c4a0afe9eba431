/* mqt: */
/* Shown failing on the code before a creator of a key could give up another's stalled creation:
 * "msgget(key, IPC_CREAT) while the key's creator was stopped: EAGAIN", in the rounds whose stop
 * fell between the creator's making the key's link and its committing the queue. */
/* A process stopped (SIGSTOP) in the middle of msgget(key, IPC_CREAT) keeps nobody else from
 * that key: on the kernel msgget is one system call, so the stopped task either made the queue
 * (another creator of the key finds it) or had not (another creates it, and the stopped one, once
 * it runs again, finds that queue). Either way both get the key's one queue, at once.
 *
 * A child creates a queue on a new key of the run's each round, when the parent says so; the
 * parent stops it a pseudo-random moment later, around the end of a creation as the first
 * rounds timed it — so under the emulation many stops fall inside its creation, after it made
 * the key's link — and then makes the same key's queue itself
 * with msgget(key, IPC_CREAT), timed. Then the child goes on and says which id it got. The
 * transcript says whether every such msgget returned a queue within its bound, whether the two
 * always got the same queue, and that nothing is left once the run's queues are removed. */
#include "harness.h"
#include "mqt_fault.h"
#include <sched.h>
#include <sys/mman.h>

#define ROUNDS 1000
#define WARMUP 100
/* Creation takes microseconds; the rest absorbs scheduling on a loaded 2-CPU machine. A call
 * that waits for the stopped creator to commit would wait until it runs again (forever). */
#define BOUND_NS (500 * 1000000LL)
#define CHILD_WAIT_MS 5000
/* The rounds stop early past this (a loaded machine): the watchdog's 20 s stay far off. */
#define RUN_BUDGET_NS (8 * 1000000000LL)
/* A stop is aimed at most this far after the word (a creation timed longer was slowed by load). */
#define AIM_MAX_NS (60 * 1000LL)

struct shared {
    volatile int round;                    /* the parent: create the key of round - 1 */
    volatile int done;                     /* the child: rounds done */
    volatile int quit;                     /* the parent: no more rounds */
    volatile int started;                  /* the child: rounds begun */
    volatile int64_t took_ns[ROUNDS];      /* the child: how long its msgget took */
    volatile int id[ROUNDS];               /* the child's msgget result */
    volatile int err[ROUNDS];              /* its errno when it failed */
};
static struct shared *shared;
static key_t keys[ROUNDS];

static void creator(void)
{
    for (int r = 0; r < ROUNDS; r++) {
        while (shared->round <= r) {
            if (shared->quit)
                exit(0);
            sched_yield();
        }
        __atomic_store_n(&shared->started, r + 1, __ATOMIC_RELEASE);
        int64_t start = fault_now_ns();
        errno = 0;
        int id = msgget(keys[r], IPC_CREAT | 0600);
        shared->took_ns[r] = fault_now_ns() - start;
        shared->err[r] = id < 0 ? errno : 0;
        shared->id[r] = id;
        __atomic_store_n(&shared->done, r + 1, __ATOMIC_RELEASE);
    }
    exit(0);
}

/* ROUNDS keys of the run's own that no queue has (a queue made on the first, to find a free
 * one, and removed again; the rest follow it). */
static void choose_keys(void)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        char tag[32];
        snprintf(tag, sizeof tag, "creator%d", attempt);
        key_t base;
        int id = t_msgget_new(tag, 0600, &base);
        T_REQUIRE(msgctl(id, IPC_RMID, NULL) == 0);
        int free = 1;
        for (int r = 0; r < ROUNDS && free; r++) {
            keys[r] = base + r;
            free = msgget(keys[r], 0) < 0 && errno == ENOENT;
        }
        if (free)
            return;
    }
    T_REQUIRE(!"no run of free keys");
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    fault_seed("fault_stopped_creator_of_a_key_keeps_it_from_no_one");
    choose_keys();
    for (int r = 0; r < ROUNDS; r++) {
        char k[32];
        snprintf(k, sizeof k, "0x%08x", (unsigned)keys[r]);
        t_record_cleanup("msgkey", k);
    }
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(shared != MAP_FAILED);

    pid_t child = t_fork();
    if (child == 0)
        creator();

    /* The first rounds are not stopped: the child times its creations, so that the stops can
     * aim at their end, where the emulation has made the key's link and not yet committed the
     * queue (whatever the machine's speed). */
    int64_t took_ns[WARMUP];
    int late = -1, failed = -1, failed_err = 0, differ = -1, lost = -1, waited = 0;
    int64_t creation_ns = 0, began = fault_now_ns();
    int rounds = 0;
    for (int r = 0; r < ROUNDS && fault_now_ns() - began < RUN_BUDGET_NS; r++, rounds = r) {
        int warming = r < WARMUP;
        if (r == WARMUP) {
            qsort(took_ns, WARMUP, sizeof took_ns[0], by_value);
            creation_ns = took_ns[WARMUP / 2] < AIM_MAX_NS ? took_ns[WARMUP / 2] : AIM_MAX_NS;
        }
        int64_t asked = fault_now_ns();
        __atomic_store_n(&shared->round, r + 1, __ATOMIC_RELEASE);
        if (warming) {
            while (__atomic_load_n(&shared->done, __ATOMIC_ACQUIRE) <= r && fault_now_ns() - asked < CHILD_WAIT_MS * 1000000LL)
                ;
            took_ns[r] = shared->took_ns[r];
            if (__atomic_load_n(&shared->done, __ATOMIC_ACQUIRE) <= r) {
                lost = r;
                break;
            }
            continue;
        }
        /* From a third of a creation to a little past its end, once the child began it. */
        while (__atomic_load_n(&shared->started, __ATOMIC_ACQUIRE) <= r && fault_now_ns() - asked < CHILD_WAIT_MS * 1000000LL)
            ;
        int64_t began_at = fault_now_ns();
        int64_t delay = creation_ns / 3 + (int64_t)fault_below((uint64_t)creation_ns + 1);
        while (fault_now_ns() - began_at < delay)
            ;
        fault_stop_process(child);
        int64_t start = fault_now_ns();
        errno = 0;
        int id = msgget(keys[r], IPC_CREAT | 0600);
        int e = errno;
        int64_t took = fault_now_ns() - start;
        kill(child, SIGCONT);
        if (took > 10 * 1000000LL)
            waited++;
        if (id < 0 && failed < 0) {
            failed = r;
            failed_err = e;
        }
        if (id >= 0 && took > BOUND_NS && late < 0)
            late = r;
        int64_t until = fault_now_ns() + CHILD_WAIT_MS * 1000000LL;
        while (__atomic_load_n(&shared->done, __ATOMIC_ACQUIRE) <= r && fault_now_ns() < until)
            fault_sleep_us(50);
        if (__atomic_load_n(&shared->done, __ATOMIC_ACQUIRE) <= r) {
            lost = r;
            break;
        }
        if (id >= 0 && shared->id[r] != id && differ < 0)
            differ = r;
    }
    shared->quit = 1;
    fprintf(stderr, "fault_stopped_creator_of_a_key: a creation takes %lld ns; %d of %d stops' msgget waited for the stopped creator\n",
            (long long)creation_ns, waited, rounds > WARMUP ? rounds - WARMUP : 0);

    if (lost >= 0) {
        kill(child, SIGKILL);
        t_reap(child);
        t_say("the creator did not finish its msgget within %d ms", CHILD_WAIT_MS);
        t_failures++;
    } else {
        EXPECT_OK(t_reap(child));
    }
    if (failed >= 0)
        t_say("msgget(key, IPC_CREAT) while the key's creator was stopped: %s", t_errno_name(failed_err));
    else if (late >= 0)
        t_say("msgget(key, IPC_CREAT) while the key's creator was stopped: took more than %lld ms",
              BOUND_NS / 1000000);
    else
        t_say("msgget(key, IPC_CREAT) while the key's creator was stopped: a queue, within its bound, every round");
    if (failed >= 0 || late >= 0)
        t_failures++;
    int child_failed = -1;
    for (int r = 0; r < rounds && lost < 0; r++)
        if (shared->id[r] < 0 && child_failed < 0)
            child_failed = r;
    if (child_failed >= 0) {
        t_say("the stopped creator's own msgget: %s", t_errno_name(shared->err[child_failed]));
        t_failures++;
    }
    t_check("the stopped creator and the other got the key's one queue every round", differ < 0 && child_failed < 0);

    /* Removed: every run key then has no queue. */
    int left = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int id = msgget(keys[r], 0);
        if (id >= 0 && msgctl(id, IPC_RMID, NULL) != 0)
            left++;
        if (msgget(keys[r], 0) >= 0)
            left++;
    }
    t_say("queues left on the run's keys after removal: %d", left);
    return t_finish();
}
