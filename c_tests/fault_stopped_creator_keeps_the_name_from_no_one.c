/* mqt: */
/* Shown failing on the code before a creator of a System V key could give up another's stalled
 * creation: "msgget(key, IPC_CREAT) while the creator was stopped: EAGAIN", in the rounds whose
 * stop fell between the creator's making the key's link and its committing the queue. (The
 * POSIX half passed there too: mq_open(O_CREAT) of a name waits for no other creator.) */
/* A process stopped (SIGSTOP) in the middle of creating a queue of a name keeps nobody else from
 * that name, on either API: on the kernel mq_open(O_CREAT) and msgget(key, IPC_CREAT) are one
 * system call each, so the stopped task either made the queue (another creator of the name finds
 * it) or had not (another creates it, and the stopped one, once it runs again, opens that
 * queue). Either way both get the name's one queue, at once.
 *
 * For each API in turn, a child creates (or opens) the queue of a new key, or of a name of the
 * run's unlinked the round before, each round when the parent says so. The first rounds are not
 * stopped: the child times its creations. Then the parent stops it each round a pseudo-random
 * moment after it began, from a third of a creation to a little past its end — so under the
 * emulation many stops fall inside its creation, after it made the key's link or the name — and
 * creates (or opens) the same queue itself, timed. Then the child goes on: it says which System V
 * id it got, or sends one message on its POSIX descriptor, which the parent must then receive
 * on its own. The transcript says whether every such creation returned a queue within its bound,
 * whether the two always got the same queue, and that nothing is left at the end. */
#define T_MAX_OBJS 256
#include "harness.h"
#include "mqt_fault.h"
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <sys/mman.h>

#define ROUNDS 1000
#define WARMUP 100
/* Creation takes microseconds; the rest absorbs scheduling on a loaded 2-CPU machine. A call
 * that waits for the stopped creator to finish would wait until it runs again (forever). */
#define BOUND_NS (500 * 1000000LL)
#define CHILD_WAIT_MS 5000
/* An API's rounds stop early past this (a loaded machine): the watchdog's 20 s stay far off. */
#define RUN_BUDGET_NS (6 * 1000000000LL)
/* A stop is aimed at most this far into a creation (one timed longer was slowed by load). */
#define AIM_MAX_NS (60 * 1000LL)
#define NAMES 4                            /* POSIX names, each unlinked at its round's end */

enum api { SYSV, POSIX };
static const char *const api_call[] = { "msgget(key, IPC_CREAT)", "mq_open(name, O_CREAT)" };

struct shared {
    volatile int round;                    /* the parent: create the queue of round - 1 */
    volatile int started;                  /* the child: rounds begun */
    volatile int done;                     /* the child: rounds done */
    volatile int quit;                     /* the parent: no more rounds */
    volatile int64_t took_ns[ROUNDS];      /* the child: how long its creation took */
    volatile int id[ROUNDS];               /* its msgget result (System V) */
    volatile int err[ROUNDS];              /* its errno when it failed */
};
static struct shared *shared;
static key_t keys[ROUNDS];
static const char *names[NAMES];
static struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };

/* The child's creation (or open) of round r's queue; on POSIX it also sends "c" on it. */
static int child_create(enum api api, int r)
{
    if (api == SYSV) {
        int id = msgget(keys[r], IPC_CREAT | 0600);
        shared->id[r] = id;
        return id < 0 ? errno : 0;
    }
    mqd_t q = mq_open(names[r % NAMES], O_CREAT | O_RDWR, 0600, &attr);
    if (q == (mqd_t)-1)
        return errno;
    int e = mq_send(q, "c", 1, 0) == 0 ? 0 : errno;
    mq_close(q);
    return e;
}

static void creator(enum api api)
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
        int e = child_create(api, r);
        shared->took_ns[r] = fault_now_ns() - start;
        shared->err[r] = e;
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
        if (free) {
            for (int r = 0; r < ROUNDS; r++) {
                char k[32];
                snprintf(k, sizeof k, "0x%08x", (unsigned)keys[r]);
                t_record_cleanup("msgkey", k);
            }
            return;
        }
    }
    T_REQUIRE(!"no run of free keys");
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int done_by(int r, int64_t deadline)
{
    while (__atomic_load_n(&shared->done, __ATOMIC_ACQUIRE) <= r && fault_now_ns() < deadline)
        fault_sleep_us(20);
    return __atomic_load_n(&shared->done, __ATOMIC_ACQUIRE) > r;
}

/* Round r's end, after the child is done: System V queues stay to the end; a POSIX name is
 * unlinked (by the parent, whose descriptor `pq`, if any, must hold the child's message). */
static int posix_round_end(int r, mqd_t pq)
{
    int same = 1;
    if (pq != (mqd_t)-1) {
        char buf[16];
        same = mq_receive(pq, buf, sizeof buf, NULL) == 1 && buf[0] == 'c';
        mq_close(pq);
    }
    if (mq_unlink(names[r % NAMES]) != 0)
        same = 0;
    return same;
}

static void run(enum api api)
{
    memset(shared, 0, sizeof *shared);
    pid_t child = t_fork();
    if (child == 0)
        creator(api);

    int64_t took_ns[WARMUP];
    int late = -1, failed = -1, failed_err = 0, differ = -1, lost = -1, waited = 0, rounds = 0;
    int64_t creation_ns = 0, began = fault_now_ns();
    for (int r = 0; r < ROUNDS && fault_now_ns() - began < RUN_BUDGET_NS; r++, rounds = r) {
        if (r == WARMUP) {
            qsort(took_ns, WARMUP, sizeof took_ns[0], by_value);
            creation_ns = took_ns[WARMUP / 2] < AIM_MAX_NS ? took_ns[WARMUP / 2] : AIM_MAX_NS;
        }
        int64_t asked = fault_now_ns(), wait_until = asked + CHILD_WAIT_MS * 1000000LL;
        __atomic_store_n(&shared->round, r + 1, __ATOMIC_RELEASE);
        if (r < WARMUP) {
            if (!done_by(r, wait_until)) {
                lost = r;
                break;
            }
            took_ns[r] = shared->took_ns[r];
            if (api == POSIX && !posix_round_end(r, (mqd_t)-1) && differ < 0)
                differ = r;
            continue;
        }
        while (__atomic_load_n(&shared->started, __ATOMIC_ACQUIRE) <= r && fault_now_ns() < wait_until)
            ;
        int64_t began_at = fault_now_ns();
        int64_t delay = creation_ns / 3 + (int64_t)fault_below((uint64_t)creation_ns + 1);
        while (fault_now_ns() - began_at < delay)
            ;
        fault_stop_process(child);
        int64_t start = fault_now_ns();
        errno = 0;
        int id = -1;
        mqd_t pq = (mqd_t)-1;
        if (api == SYSV)
            id = msgget(keys[r], IPC_CREAT | 0600);
        else
            id = (pq = mq_open(names[r % NAMES], O_CREAT | O_RDWR | O_NONBLOCK, 0600, &attr)) == (mqd_t)-1 ? -1 : 0;
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
        if (!done_by(r, fault_now_ns() + CHILD_WAIT_MS * 1000000LL)) {
            lost = r;
            if (pq != (mqd_t)-1)
                mq_close(pq);
            break;
        }
        int same = api == SYSV ? id < 0 || shared->id[r] == id : posix_round_end(r, pq);
        if (!same && differ < 0)
            differ = r;
    }
    shared->quit = 1;
    fprintf(stderr, "fault_stopped_creator (%s): a creation takes %lld ns; %d of %d stops' call waited for the stopped creator\n",
            api_call[api], (long long)creation_ns, waited, rounds > WARMUP ? rounds - WARMUP : 0);

    if (lost >= 0) {
        kill(child, SIGKILL);
        t_reap(child);
        t_say("%s: the creator did not finish within %d ms", api_call[api], CHILD_WAIT_MS);
        t_failures++;
    } else {
        EXPECT_OK(t_reap(child));
    }
    if (failed >= 0)
        t_say("%s while the creator was stopped: %s", api_call[api], t_errno_name(failed_err));
    else if (late >= 0)
        t_say("%s while the creator was stopped: took more than %lld ms", api_call[api], BOUND_NS / 1000000);
    else
        t_say("%s while the creator was stopped: a queue, within its bound, every round", api_call[api]);
    if (failed >= 0 || late >= 0)
        t_failures++;
    int child_failed = -1;
    for (int r = 0; r < rounds && lost < 0; r++)
        if (shared->err[r] != 0 && child_failed < 0)
            child_failed = r;
    if (child_failed >= 0) {
        t_say("%s: the stopped creator's own call: %s", api_call[api], t_errno_name(shared->err[child_failed]));
        t_failures++;
    }
    char label[160];
    snprintf(label, sizeof label, "%s: the stopped creator and the other got the one queue every round", api_call[api]);
    t_check(label, differ < 0 && child_failed < 0);
}

int main(void)
{
    fault_seed("fault_stopped_creator_keeps_the_name_from_no_one");
    choose_keys();
    for (int i = 0; i < NAMES; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "creator%d", i);
        names[i] = t_qname(tag);
    }
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(shared != MAP_FAILED);

    run(SYSV);
    run(POSIX);

    /* Removed: no run key then has a queue, and no name. */
    int left = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int id = msgget(keys[r], 0);
        if (id >= 0 && msgctl(id, IPC_RMID, NULL) != 0)
            left++;
        if (msgget(keys[r], 0) >= 0)
            left++;
    }
    for (int i = 0; i < NAMES; i++) {
        mq_unlink(names[i]);
        mqd_t q = mq_open(names[i], O_RDONLY);
        if (q != (mqd_t)-1) {
            left++;
            mq_close(q);
        }
    }
    t_say("queues left after removal: %d", left);
    return t_finish();
}
