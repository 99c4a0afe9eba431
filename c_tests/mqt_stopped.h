/* A process stopped (SIGSTOP) in the middle of making or removing a queue of a name keeps nobody
 * else from that name, on either API: on the kernel mq_open(O_CREAT), mq_unlink, msgget(key,
 * IPC_CREAT) and msgctl(IPC_RMID) are one system call each, so the stopped task either did its
 * call or had not, and another process's creation of the name succeeds at once either way.
 * Shared by fault_stopped_creator_keeps_the_name_from_no_one.c (the stop falls inside the
 * child's creation) and fault_stopped_remover_keeps_the_name_from_no_one.c (inside its removal).
 *
 * For each API in turn, a child works on the queue of a new key, or of a name of the run's
 * unlinked the round before, each round when the parent says so. The first rounds are not
 * stopped: the child times its calls. Then the parent stops it each round a pseudo-random moment
 * after it began the timed call, from a third of one to a little past its end — so under the
 * emulation many stops fall inside it — and creates (or opens) the same queue itself with
 * IPC_CREAT / O_CREAT, timed. Then the child goes on.
 *
 * In creation: the child creates (or opens) the queue, and says which System V id it got, or
 * sends one message on its POSIX descriptor, which the parent must then receive on its own: the
 * two got the one queue. In removal: the child first creates the queue (untimed), then removes
 * it (IPC_RMID, mq_unlink; timed), which must succeed; the parent's queue is the old one or a new
 * one, and is removed at the round's end. The transcript says whether every creation of the
 * parent returned a queue within its bound, whether the child's calls all succeeded (and, in
 * creation, the two got one queue), and that nothing is left at the end. */
#ifndef MQT_STOPPED_H
#define MQT_STOPPED_H

#include "harness.h"
#include "mqt_fault.h"
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <sys/mman.h>

#define STOP_ROUNDS 1000
#define STOP_WARMUP 100
/* Creation takes microseconds; the rest absorbs scheduling on a loaded 2-CPU machine. A call
 * that waits for the stopped process to finish would wait until it runs again (forever). */
#define STOP_BOUND_NS (500 * 1000000LL)
#define STOP_CHILD_WAIT_MS 5000
/* An API's rounds stop early past this (a loaded machine): the watchdog's 20 s stay far off. */
#define STOP_RUN_BUDGET_NS (6 * 1000000000LL)
/* A stop is aimed at most this far into a call (one timed longer was slowed by load). */
#define STOP_AIM_MAX_NS (60 * 1000LL)
#define STOP_NAMES 4                       /* POSIX names, each unlinked at its round's end */

enum stop_api { STOP_SYSV, STOP_POSIX };
enum stop_in { STOP_IN_CREATION, STOP_IN_REMOVAL };
static const char *const stop_api_call[] = { "msgget(key, IPC_CREAT)", "mq_open(name, O_CREAT)" };
static const char *const stop_who[] = { "creator", "remover" };

struct stop_shared {
    volatile int round;                    /* the parent: work on the queue of round - 1 */
    volatile int started;                  /* the child: timed calls begun */
    volatile int done;                     /* the child: rounds done */
    volatile int quit;                     /* the parent: no more rounds */
    volatile int64_t took_ns[STOP_ROUNDS]; /* the child: how long its timed call took */
    volatile int id[STOP_ROUNDS];          /* its msgget result (System V) */
    volatile int err[STOP_ROUNDS];         /* its errno when a call failed */
};
static struct stop_shared *stop_shared;
static key_t stop_keys[STOP_ROUNDS];
static const char *stop_names[STOP_NAMES];
static struct mq_attr stop_attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };

/* The child's creation (or open) of round r's queue; on POSIX in creation it also sends "c". */
static int stop_child_create(enum stop_api api, enum stop_in in, int r)
{
    if (api == STOP_SYSV) {
        int id = msgget(stop_keys[r], IPC_CREAT | 0600);
        stop_shared->id[r] = id;
        return id < 0 ? errno : 0;
    }
    mqd_t q = mq_open(stop_names[r % STOP_NAMES], O_CREAT | O_RDWR, 0600, &stop_attr);
    if (q == (mqd_t)-1)
        return errno;
    int e = in == STOP_IN_REMOVAL || mq_send(q, "c", 1, 0) == 0 ? 0 : errno;
    mq_close(q);
    return e;
}

/* The child's removal of round r's queue (made by stop_child_create). */
static int stop_child_remove(enum stop_api api, int r)
{
    if (api == STOP_SYSV)
        return msgctl(stop_shared->id[r], IPC_RMID, NULL) == 0 ? 0 : errno;
    return mq_unlink(stop_names[r % STOP_NAMES]) == 0 ? 0 : errno;
}

static void stop_child(enum stop_api api, enum stop_in in)
{
    for (int r = 0; r < STOP_ROUNDS; r++) {
        while (stop_shared->round <= r) {
            if (stop_shared->quit)
                exit(0);
            sched_yield();
        }
        int e = in == STOP_IN_REMOVAL ? stop_child_create(api, in, r) : 0;
        __atomic_store_n(&stop_shared->started, r + 1, __ATOMIC_RELEASE);
        int64_t start = fault_now_ns();
        errno = 0;
        if (e == 0)
            e = in == STOP_IN_CREATION ? stop_child_create(api, in, r) : stop_child_remove(api, r);
        stop_shared->took_ns[r] = fault_now_ns() - start;
        stop_shared->err[r] = e;
        __atomic_store_n(&stop_shared->done, r + 1, __ATOMIC_RELEASE);
    }
    exit(0);
}

static int stop_by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int stop_done_by(int r, int64_t deadline)
{
    while (__atomic_load_n(&stop_shared->done, __ATOMIC_ACQUIRE) <= r && fault_now_ns() < deadline)
        fault_sleep_us(20);
    return __atomic_load_n(&stop_shared->done, __ATOMIC_ACQUIRE) > r;
}

/* Round r's end, after the child is done, in creation: System V queues stay to the end; a POSIX
 * name is unlinked (by the parent, whose descriptor `pq`, if any, must hold the child's
 * message). In removal: whatever the parent made or opened goes. Whether the round was right. */
static int stop_round_end(enum stop_api api, enum stop_in in, int r, int id, mqd_t pq)
{
    if (in == STOP_IN_REMOVAL) {
        if (api == STOP_SYSV) {
            if (id >= 0)
                msgctl(id, IPC_RMID, NULL);   /* EINVAL when it was the child's, removed */
        } else {
            if (pq != (mqd_t)-1)
                mq_close(pq);
            mq_unlink(stop_names[r % STOP_NAMES]);   /* ENOENT when it was the child's */
        }
        return 1;
    }
    if (api == STOP_SYSV)
        return id < 0 || stop_shared->id[r] == id;
    int same = 1;
    if (pq != (mqd_t)-1) {
        char buf[16];
        same = mq_receive(pq, buf, sizeof buf, NULL) == 1 && buf[0] == 'c';
        mq_close(pq);
    }
    if (mq_unlink(stop_names[r % STOP_NAMES]) != 0)
        same = 0;
    return same;
}

static void stop_run(enum stop_api api, enum stop_in in, const char *test)
{
    memset(stop_shared, 0, sizeof *stop_shared);
    pid_t child = t_fork();
    if (child == 0)
        stop_child(api, in);

    int64_t took_ns[STOP_WARMUP];
    int late = -1, failed = -1, failed_err = 0, differ = -1, lost = -1, waited = 0, rounds = 0;
    int64_t aim_ns = 0, began = fault_now_ns();
    for (int r = 0; r < STOP_ROUNDS && fault_now_ns() - began < STOP_RUN_BUDGET_NS; r++, rounds = r) {
        if (r == STOP_WARMUP) {
            qsort(took_ns, STOP_WARMUP, sizeof took_ns[0], stop_by_value);
            aim_ns = took_ns[STOP_WARMUP / 2] < STOP_AIM_MAX_NS ? took_ns[STOP_WARMUP / 2] : STOP_AIM_MAX_NS;
        }
        int64_t asked = fault_now_ns(), wait_until = asked + STOP_CHILD_WAIT_MS * 1000000LL;
        __atomic_store_n(&stop_shared->round, r + 1, __ATOMIC_RELEASE);
        if (r < STOP_WARMUP) {
            if (!stop_done_by(r, wait_until)) {
                lost = r;
                break;
            }
            took_ns[r] = stop_shared->took_ns[r];
            if ((api == STOP_POSIX || in == STOP_IN_REMOVAL) && !stop_round_end(api, in, r, -1, (mqd_t)-1) && differ < 0)
                differ = r;
            continue;
        }
        while (__atomic_load_n(&stop_shared->started, __ATOMIC_ACQUIRE) <= r && fault_now_ns() < wait_until)
            ;
        int64_t began_at = fault_now_ns();
        int64_t delay = aim_ns / 3 + (int64_t)fault_below((uint64_t)aim_ns + 1);
        while (fault_now_ns() - began_at < delay)
            ;
        fault_stop_process(child);
        int64_t start = fault_now_ns();
        errno = 0;
        int id = -1;
        mqd_t pq = (mqd_t)-1;
        if (api == STOP_SYSV)
            id = msgget(stop_keys[r], IPC_CREAT | 0600);
        else
            id = (pq = mq_open(stop_names[r % STOP_NAMES], O_CREAT | O_RDWR | O_NONBLOCK, 0600, &stop_attr)) == (mqd_t)-1 ? -1 : 0;
        int e = errno;
        int64_t took = fault_now_ns() - start;
        kill(child, SIGCONT);
        if (took > 10 * 1000000LL)
            waited++;
        if (id < 0 && failed < 0) {
            failed = r;
            failed_err = e;
        }
        if (id >= 0 && took > STOP_BOUND_NS && late < 0)
            late = r;
        if (!stop_done_by(r, fault_now_ns() + STOP_CHILD_WAIT_MS * 1000000LL)) {
            lost = r;
            if (pq != (mqd_t)-1)
                mq_close(pq);
            break;
        }
        if (!stop_round_end(api, in, r, id, pq) && differ < 0)
            differ = r;
    }
    stop_shared->quit = 1;
    fprintf(stderr, "%s (%s): a call takes %lld ns; %d of %d stops' %s waited for the stopped %s\n", test,
            stop_api_call[api], (long long)aim_ns, waited, rounds > STOP_WARMUP ? rounds - STOP_WARMUP : 0,
            stop_api_call[api], stop_who[in]);

    if (lost >= 0) {
        kill(child, SIGKILL);
        t_reap(child);
        t_say("%s: the %s did not finish within %d ms", stop_api_call[api], stop_who[in], STOP_CHILD_WAIT_MS);
        t_failures++;
    } else {
        EXPECT_OK(t_reap(child));
    }
    if (failed >= 0)
        t_say("%s while the %s was stopped: %s", stop_api_call[api], stop_who[in], t_errno_name(failed_err));
    else if (late >= 0)
        t_say("%s while the %s was stopped: took more than %lld ms", stop_api_call[api], stop_who[in], STOP_BOUND_NS / 1000000);
    else
        t_say("%s while the %s was stopped: a queue, within its bound, every round", stop_api_call[api], stop_who[in]);
    if (failed >= 0 || late >= 0)
        t_failures++;
    int child_failed = -1;
    for (int r = 0; r < rounds && lost < 0; r++)
        if (stop_shared->err[r] != 0 && child_failed < 0)
            child_failed = r;
    if (child_failed >= 0) {
        t_say("%s: the stopped %s's own call: %s", stop_api_call[api], stop_who[in], t_errno_name(stop_shared->err[child_failed]));
        t_failures++;
    }
    char label[160];
    if (in == STOP_IN_CREATION)
        snprintf(label, sizeof label, "%s: the stopped creator and the other got the one queue every round", stop_api_call[api]);
    else
        snprintf(label, sizeof label, "%s: the stopped remover's calls succeeded every round", stop_api_call[api]);
    t_check(label, differ < 0 && child_failed < 0);
}

/* The whole test: both APIs, stops inside the child's creations or removals. */
static int stop_test(enum stop_in in, const char *test)
{
    fault_seed(test);
    t_msgkeys_free("stopped", STOP_ROUNDS, stop_keys);
    for (int i = 0; i < STOP_NAMES; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "stopped%d", i);
        stop_names[i] = t_qname(tag);
    }
    stop_shared = mmap(NULL, sizeof *stop_shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(stop_shared != MAP_FAILED);

    stop_run(STOP_SYSV, in, test);
    stop_run(STOP_POSIX, in, test);

    /* Removed: no run key then has a queue, and no name. */
    int left = 0;
    for (int r = 0; r < STOP_ROUNDS; r++) {
        int id = msgget(stop_keys[r], 0);
        if (id >= 0 && msgctl(id, IPC_RMID, NULL) != 0)
            left++;
        if (msgget(stop_keys[r], 0) >= 0)
            left++;
    }
    for (int i = 0; i < STOP_NAMES; i++) {
        mq_unlink(stop_names[i]);
        mqd_t q = mq_open(stop_names[i], O_RDONLY);
        if (q != (mqd_t)-1) {
            left++;
            mq_close(q);
        }
    }
    t_say("queues left after removal: %d", left);
    return t_finish();
}

#endif
