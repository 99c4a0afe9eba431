/* mqt_fault.h — shared pieces of the fault tests (fault_*.c): a seeded PRNG, a monotonic
 * clock, a walk over whatever the emulation keeps under $MQSHIM_DIR, and a busy child stopped
 * at pseudo-random moments (fault_holder_*) for the "calls bounded while the holder is
 * stopped" tests, a prober child that makes bounded calls while busy children are stopped
 * (fault_prober_*), and a POSIX queue that its busy children keep from ever emptying, with
 * steps tallied against the kernel's answer (fault_busy_*, fault_step_*: the notification
 * tests).
 *
 * The fault tests are differential like every C test: the same program runs on the kernel and
 * on the emulation and prints only what the kernel would also give. Where a test touches the
 * emulation's files it walks the namespace directory (never following links) without knowing
 * any file name; on the kernel configurations MQSHIM_DIR is unset and the walk finds nothing.
 *
 * The seed comes from $MQT_SEED when set (to replay a failure), else from the clock; it is
 * printed on stderr only, since the transcript must not depend on it. Include after harness.h. */
#ifndef MQT_FAULT_H
#define MQT_FAULT_H

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>

/* ------------------------------------------------------------------------------------------ */
/* seeded PRNG (xorshift64*)                                                                  */

static uint64_t fault_rng_state = 1;

static void fault_seed(const char *test) T_UNUSED;
static void fault_seed(const char *test)
{
    const char *s = getenv("MQT_SEED");
    uint64_t seed;
    if (s && *s) {
        seed = strtoull(s, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    fault_rng_state = seed ? seed : 1;
    fprintf(stderr, "%s: seed %llu (replay with MQT_SEED=%llu)\n", test,
            (unsigned long long)seed, (unsigned long long)seed);
}

static uint64_t fault_rand(void) T_UNUSED;
static uint64_t fault_rand(void)
{
    uint64_t x = fault_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    fault_rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A pseudo-random number in [0, n). */
static uint64_t fault_below(uint64_t n) T_UNUSED;
static uint64_t fault_below(uint64_t n)
{
    return n ? fault_rand() % n : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* time                                                                                       */

static int64_t fault_now_ns(void) T_UNUSED;
static int64_t fault_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fault_sleep_us(long us) T_UNUSED;
static void fault_sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------------------------------ */
/* the emulation's namespace                                                                  */

/* The emulation's namespace directory, or NULL on the kernel configurations. */
static const char *fault_namespace(void) T_UNUSED;
static const char *fault_namespace(void)
{
    const char *dir = getenv("MQSHIM_DIR");
    const char *backend = getenv("MQSHIM_BACKEND");
    if (!dir || !*dir || !backend || strcmp(backend, "emulate") != 0)
        return NULL;
    return dir;
}

/* Called for every entry under the walked directory (not the directory itself): `dirfd` is
 * the entry's parent, `name` its name, `st` its lstat. */
typedef void (*fault_visit)(int dirfd, const char *name, const struct stat *st, void *ctx);

static void fault_walk_fd(int dirfd, int depth, fault_visit visit, void *ctx)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;                       /* removed meanwhile */
        visit(dirfd, e->d_name, &st, ctx);
        if (S_ISDIR(st.st_mode) && depth < 16) {
            int sub = openat(dirfd, e->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                fault_walk_fd(sub, depth + 1, visit, ctx);
        }
    }
    closedir(d);
}

/* Walks everything under `root` (recursively, never following a link). Returns 0, or -1 when
 * `root` cannot be opened as a directory. */
static int fault_walk(const char *root, fault_visit visit, void *ctx) T_UNUSED;
static int fault_walk(const char *root, fault_visit visit, void *ctx)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    fault_walk_fd(fd, 0, visit, ctx);
    return 0;
}

static void fault_count_visit(int dirfd, const char *name, const struct stat *st, void *ctx)
{
    (void)dirfd;
    (void)name;
    (void)st;
    (*(long *)ctx)++;
}

/* How many entries (files, directories, anything) exist under `root`; 0 when `root` is NULL
 * (the kernel configurations) or missing. */
static long fault_count_entries(const char *root) T_UNUSED;
static long fault_count_entries(const char *root)
{
    long n = 0;
    if (root)
        fault_walk(root, fault_count_visit, &n);
    return n;
}

static void fault_remove_in(int dirfd, int depth)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 16) {
            int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                fault_remove_in(sub, depth + 1);
            unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
        } else {
            unlinkat(dirfd, e->d_name, 0);
        }
    }
    closedir(d);
}

/* Removes `root` and everything under it (never following a link): a namespace the test made
 * for itself. */
static void fault_remove_tree(const char *root) T_UNUSED;
static void fault_remove_tree(const char *root)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    fault_remove_in(fd, 0);
    rmdir(root);
}

/* ------------------------------------------------------------------------------------------ */
/* stopping a process                                                                         */

/* Stops `pid` (SIGSTOP) and waits, at most a second, until it is stopped. */
static void fault_stop_process(pid_t pid) T_UNUSED;
static void fault_stop_process(pid_t pid)
{
    kill(pid, SIGSTOP);
    for (int i = 0; i < 10000 && t_proc_state(pid) != 'T'; i++)
        fault_sleep_us(100);
}

/* ------------------------------------------------------------------------------------------ */
/* a holder stopped at any moment (*_nonblocking_calls_bounded_while_holder_stopped.c)        */

/* A busy child that may be stopped (SIGSTOP) at a pseudo-random moment of its calls — under
 * the emulation possibly while it holds a queue's lock — while the test times its own calls. */
struct fault_holder {
    t_child child;
    struct fault_holder_shared {
        volatile int stop;
        volatile unsigned long iterations;
    } *sh;
};

/* Starts the child: it calls busy(i, ctx) for i = 0, 1, ... until fault_holder_end(). */
static struct fault_holder fault_holder_start(void (*busy)(unsigned i, void *ctx), void *ctx) T_UNUSED;
static struct fault_holder fault_holder_start(void (*busy)(unsigned i, void *ctx), void *ctx)
{
    struct fault_holder h;
    h.sh = mmap(NULL, sizeof *h.sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(h.sh != MAP_FAILED);
    h.child = t_spawn();
    if (h.child.pid == 0) {
        for (unsigned i = 0; !h.sh->stop; i++) {
            busy(i, ctx);
            h.sh->iterations++;
        }
        exit(t_child_status());
    }
    return h;
}

/* Lets the child run a few calls (1 to 50, pseudo-random), then stops it and waits until it
 * is stopped. */
static void fault_holder_stop(struct fault_holder *h) T_UNUSED;
static void fault_holder_stop(struct fault_holder *h)
{
    unsigned long seen = h->sh->iterations;
    unsigned long more = 1 + fault_below(50);
    while (h->sh->iterations - seen < more)
        sched_yield();
    T_REQUIRE(kill(h->child.pid, SIGSTOP) == 0);
    while (t_proc_state(h->child.pid) != 'T')
        sched_yield();
}

static void fault_holder_continue(struct fault_holder *h) T_UNUSED;
static void fault_holder_continue(struct fault_holder *h)
{
    T_REQUIRE(kill(h->child.pid, SIGCONT) == 0);
}

/* Ends the child (its lines join the transcript) and checks that none of the `over` calls
 * the test counted ran past its bound. */
/* The most any call timed by fault_late took past the time it was given, and whether any was. */
static int64_t fault_slowest_ns;
static int fault_timed_any;

static void fault_holder_end(struct fault_holder *h, int over) T_UNUSED;
static void fault_holder_end(struct fault_holder *h, int over)
{
    h->sh->stop = 1;
    t_join(&h->child, 0);
    t_check("within bound", over == 0);
    if (over)
        t_say("calls over the bound: %d", over);
    /* Times differ between runs and backends: stderr only. */
    if (fault_timed_any)
        fprintf(stderr, "slowest call: %.1f ms past the time it was given\n", fault_slowest_ns / 1e6);
}

/* How a control call (IPC_RMID, IPC_SET, ...) made while the holder was stopped fared, round
 * after round: how many succeeded, how many failed, and the first failure's errno. */
struct fault_tally {
    int done, failed, first_errno;
};

/* Counts one call: `ok` its success (errno, when it failed, still its own). */
static void fault_tally_add(struct fault_tally *t, int ok) T_UNUSED;
static void fault_tally_add(struct fault_tally *t, int ok)
{
    if (ok)
        t->done++;
    else if (t->failed++ == 0)
        t->first_errno = errno;
}

/* Says how `call` fared while the child was stopped: that some queues were `done_as` (the
 * call's past participle), and whether every one succeeded or which errno failed first; the
 * counts of the `rounds` go to stderr (they differ between runs), under the test's name. */
static void fault_tally_say(const struct fault_tally *t, const char *test, int rounds, const char *call, const char *done_as) T_UNUSED;
static void fault_tally_say(const struct fault_tally *t, const char *test, int rounds, const char *call, const char *done_as)
{
    fprintf(stderr, "%s: %d %s, %d failed of %d rounds\n", test, t->done, done_as, t->failed, rounds);
    t_say("some queues were %s while the child was stopped: %s", done_as, t->done > 0 ? "yes" : "no");
    if (t->failed == 0)
        t_say("%s while the child was stopped: every one succeeded", call);
    else
        t_say("%s while the child was stopped: some failed (first %s)", call, t_errno_name(t->first_errno));
}

/* Whether a call that began at `start_ns` (fault_now_ns()) and was given `given_ns` (its
 * timeout; 0 for a call that does not block) took more than `limit_ns` past that. */
static int fault_late(int64_t start_ns, int64_t given_ns, int64_t limit_ns) T_UNUSED;
static int fault_late(int64_t start_ns, int64_t given_ns, int64_t limit_ns)
{
    int64_t past = fault_now_ns() - start_ns - given_ns;
    fault_timed_any = 1;
    if (past > fault_slowest_ns)
        fault_slowest_ns = past;
    return past > limit_ns;
}

/* One call of a System V busy child (the `busy` of fault_holder_start) on the queue of `key`,
 * whose id it keeps in *id (-1: made, or made again, at this call): a send of type `send_type`;
 * then, if it was sent and `receive`, a receive of type `recv_type` (0: any); then, if
 * `remove`, the queue's removal. A queue found removed is made again at the next call. */
static void fault_sysv_busy_call(int *id, key_t key, long send_type, int receive, long recv_type, int remove) T_UNUSED;
static void fault_sysv_busy_call(int *id, key_t key, long send_type, int receive, long recv_type, int remove)
{
    struct {
        long mtype;
        char text[16];
    } m = { send_type, "busy" };
    if (*id < 0)
        *id = msgget(key, IPC_CREAT | 0600);
    int r = msgsnd(*id, &m, 4, IPC_NOWAIT);
    if (r == 0 && receive)
        r = (int)msgrcv(*id, &m, sizeof m.text, recv_type, IPC_NOWAIT);
    if (remove && msgctl(*id, IPC_RMID, NULL) == 0)
        *id = -1;
    else if (r < 0 && (errno == EIDRM || errno == EINVAL))
        *id = -1;
}

/* ------------------------------------------------------------------------------------------ */
/* a caller blocked while the holder is stopped (*_blocked_callers_*_while_holder_stopped.c)  */

static void fault_ignore_signal(int sig)
{
    (void)sig;
}

/* Catches `sig` with a handler that does nothing and no SA_RESTART: a blocked call it
 * interrupts fails with EINTR. */
static void fault_catch(int sig) T_UNUSED;
static void fault_catch(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fault_ignore_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Whether `pid` sleeps ('S') at three looks 1 ms apart, within 5 s. */
static int fault_wait_asleep(pid_t pid) T_UNUSED;
static int fault_wait_asleep(pid_t pid)
{
    int streak = 0;
    for (int i = 0; i < 5000 && streak < 3; i++) {
        streak = t_proc_state(pid) == 'S' ? streak + 1 : 0;
        fault_sleep_us(1000);
    }
    return streak >= 3;
}

/* In a blocked caller's child: gives the answer of its call (`r`, negative when it failed with
 * errno) on `fd`, as fault_answer reads it, and ends the child. */
static void fault_answer_and_exit(int fd, long r) T_UNUSED;
static void fault_answer_and_exit(int fd, long r)
{
    int e = r < 0 ? errno : 0;
    exit(write(fd, &e, sizeof e) == (ssize_t)sizeof e ? 0 : 1);
}

/* Whether the blocked caller `pid`, which answers on `fd`, went to sleep in its call
 * (fault_wait_asleep); if not, it is killed and reaped, `fd` closed, and the round counted in
 * *never_blocked. */
static int fault_caller_blocked(pid_t pid, int fd, int *never_blocked) T_UNUSED;
static int fault_caller_blocked(pid_t pid, int fd, int *never_blocked)
{
    if (fault_wait_asleep(pid))
        return 1;
    (*never_blocked)++;
    kill(pid, SIGKILL);
    t_reap(pid);
    close(fd);
    return 0;
}

/* A child's answer on `fd` (an int: 0, or its errno), waited for at most `ms` (-1: none yet). */
static int fault_answer(int fd, int ms) T_UNUSED;
static int fault_answer(int fd, int ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, ms) != 1)
        return -1;
    int e = -1;
    if (read(fd, &e, sizeof e) != (ssize_t)sizeof e)
        return -1;
    return e;
}

/* fault_answer for a child that signal `sig` should interrupt: sent now and every 20 ms until
 * it answers. Under mqshim a handler that runs while the child's call is still in the
 * library's own code, before the call sleeps, interrupts nothing (as a signal just before the
 * call would not): the next one does. */
static int fault_answer_signalled(pid_t pid, int sig, int fd, int ms) T_UNUSED;
static int fault_answer_signalled(pid_t pid, int sig, int fd, int ms)
{
    int64_t until = fault_now_ns() + (int64_t)ms * 1000000;
    for (;;) {
        kill(pid, sig);
        int left = (int)((until - fault_now_ns()) / 1000000);
        int e = fault_answer(fd, left < 20 ? (left > 0 ? left : 0) : 20);
        if (e != -1 || left <= 20)
            return e;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* a prober while busy children are stopped (fault_stopped_*.c)                               */

/* What a prober's probes say of a round, back to the parent: the first probe whose call erred
 * other than the kernel could (its errno) or took longer than its bound, or none. */
struct fault_probe_report {
    int call;                               /* that probe's index, or -1: all kept their bound */
    int err;                                /* its errno when it erred, else 0 */
    long long took_ms;
};

/* A prober child, and what it is doing (shared with the parent: the probe under way, or -1),
 * for the report of a probe that never returns. */
struct fault_prober {
    pid_t pid;
    t_chan cmd;
    int report_rd;
    volatile int *call;
};

/* The verdict of probe `call`, begun at `start_ns` (fault_now_ns()), whose result `ok` says
 * whether the kernel could give it (`err`: errno after it) and which was to take at most
 * `bound_ns`: 1 if it kept both, else 0 with `r` filled in. */
static int fault_probe_kept(struct fault_prober *p, int call, int ok, int err, int64_t start_ns, int64_t bound_ns, struct fault_probe_report *r) T_UNUSED;
static int fault_probe_kept(struct fault_prober *p, int call, int ok, int err, int64_t start_ns, int64_t bound_ns, struct fault_probe_report *r)
{
    int64_t took = fault_now_ns() - start_ns;
    *p->call = -1;
    if (ok && took <= bound_ns)
        return 1;
    r->call = call;
    r->err = ok ? 0 : err;
    r->took_ms = took / 1000000;
    return 0;
}

/* Starts the prober child: for each byte the parent sends (fault_prober_round), it calls
 * round(what, &report) — whose probes set *p->call while they run, and give their verdicts by
 * fault_probe_kept — and writes the report back; 'q' or the end of the pipe ends it. */
static void fault_prober_start(struct fault_prober *p, void (*round)(struct fault_prober *p, char what, struct fault_probe_report *r)) T_UNUSED;
static void fault_prober_start(struct fault_prober *p, void (*round)(struct fault_prober *p, char what, struct fault_probe_report *r))
{
    p->call = mmap(NULL, sizeof *p->call, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(p->call != MAP_FAILED);
    *p->call = -1;
    p->cmd = t_chan_open();
    int rep[2];
    t_pipe_cloexec(rep);
    p->pid = t_fork();
    if (p->pid == 0) {
        close(rep[0]);
        for (;;) {
            char b;
            ssize_t n = read(p->cmd.rd, &b, 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n != 1 || b == 'q')
                break;
            struct fault_probe_report r = { -1, 0, 0 };
            round(p, b, &r);
            if (write(rep[1], &r, sizeof r) != (ssize_t)sizeof r)
                break;
        }
        exit(0);
    }
    close(rep[1]);
    p->report_rd = rep[0];
}

/* One round: stops busy[0], busy[1] or both (pseudo-random), asks the prober for `what`, waits
 * for its report at most `wait_ms`, and continues them. Sets *first to the report when it says
 * a probe failed, or *hung to the probe under way when none came (`count`: none was, the
 * prober died or stalled between two).
 * Whether the rounds go on (neither happened). */
static int fault_prober_round(struct fault_prober *p, const pid_t busy[2], char what, int wait_ms, int count, struct fault_probe_report *first, int *hung) T_UNUSED;
static int fault_prober_round(struct fault_prober *p, const pid_t busy[2], char what, int wait_ms, int count, struct fault_probe_report *first, int *hung)
{
    fault_sleep_us((long)fault_below(1000));   /* let the busy children run */
    uint64_t who = fault_below(3);             /* 0, 1, or both */
    if (who != 1)
        fault_stop_process(busy[0]);
    if (who != 0)
        fault_stop_process(busy[1]);
    T_REQUIRE(write(p->cmd.wr, &what, 1) == 1);
    struct pollfd pfd = { p->report_rd, POLLIN, 0 };
    int ready;
    do
        ready = poll(&pfd, 1, wait_ms);
    while (ready < 0 && errno == EINTR);
    if (ready == 1) {
        struct fault_probe_report r;
        if (read(p->report_rd, &r, sizeof r) == (ssize_t)sizeof r)
            *first = r;
        else
            *hung = count;                     /* the prober died */
    } else {
        *hung = *p->call >= 0 ? *p->call : count;
    }
    kill(busy[0], SIGCONT);
    kill(busy[1], SIGCONT);
    return first->call < 0 && *hung < 0;
}

/* Ends the prober (told to quit, or killed when it hangs) and says the rounds' outcome: the
 * first probe that failed (`names`: the probes', `count` of them), or `all_kept` when none
 * did. */
static void fault_prober_end(struct fault_prober *p, int hung, const struct fault_probe_report *first, const char *const names[], int count, int wait_ms, const char *all_kept) T_UNUSED;
static void fault_prober_end(struct fault_prober *p, int hung, const struct fault_probe_report *first, const char *const names[], int count, int wait_ms, const char *all_kept)
{
    if (hung < 0) {
        char quit = 'q';
        if (write(p->cmd.wr, &quit, 1) != 1) { /* the prober then ends on EOF */ }
    } else {
        kill(p->pid, SIGKILL);
    }
    t_reap(p->pid);
    if (hung >= 0) {
        t_say("first failure: %s did not return within %d ms", hung < count ? names[hung] : "the prober (died or stalled)", wait_ms);
        t_failures++;
    } else if (first->call >= 0) {
        if (first->err)
            t_say("first failure: %s -> %s after %lld ms", names[first->call], t_errno_name(first->err), first->took_ms);
        else
            t_say("first failure: %s took %lld ms", names[first->call], first->took_ms);
        t_failures++;
    } else {
        t_say("%s: yes", all_kept);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* a busy POSIX queue, and steps checked against the kernel's answer (the notification tests)  */

/* Whole messages, so that a busy process holds the emulation's queue lock a good part of its
 * time (and is often stopped inside it). */
#define FAULT_BUSY_MSGSIZE 8192

static mqd_t fault_busy_q;

/* A busy process's calls (fault_holder_start(fault_busy_send_receive, NULL)): a send and a
 * receive, with priorities that vary, so that the queue (never empty, its priorities rising)
 * stays in the emulation's general structure and every call takes its lock. Each process
 * receives no more than it sent, so the queue never empties (as it would when a send failed
 * and the receive after it did not: a non-blocking call of the emulation fails with EAGAIN
 * behind another busy process stopped inside the lock); a receive that failed is made again
 * before the next send. */
static void fault_busy_send_receive(unsigned i, void *ctx) T_UNUSED;
static void fault_busy_send_receive(unsigned i, void *ctx)
{
    (void)ctx;
    static char buf[FAULT_BUSY_MSGSIZE];
    static int owed;
    unsigned prio;
    if (i % 1024 == 0)
        alarm(t_timeout_seconds()); /* the watchdog bounds a stretch, not a stress run's whole */
    if (!owed && mq_send(fault_busy_q, buf, sizeof buf, i % 3) != 0)
        return;
    owed = mq_receive(fault_busy_q, buf, sizeof buf, &prio) < 0;
}

/* Creates the busy queue (10 messages of FAULT_BUSY_MSGSIZE, O_NONBLOCK) holding one message
 * that stays, so that no send fires a notification registration. */
static mqd_t fault_busy_queue(const char *tag) T_UNUSED;
static mqd_t fault_busy_queue(const char *tag)
{
    fault_busy_q = t_mq_create(tag, 10, FAULT_BUSY_MSGSIZE, O_NONBLOCK);
    EXPECT_EQ(mq_send(fault_busy_q, "kept", 4, 0), 0);
    return fault_busy_q;
}

/* Empties the busy queue once its busy processes have ended (its next send then finds it
 * empty, and fires a registration), and says so. */
static void fault_busy_drain(void) T_UNUSED;
static void fault_busy_drain(void)
{
    char buf[FAULT_BUSY_MSGSIZE];
    int drained = 0;
    while (mq_receive(fault_busy_q, buf, sizeof buf, NULL) >= 0)
        drained++;
    t_check("queue emptied (EAGAIN)", errno == EAGAIN && drained >= 1);
}

/* mq_notify with SIGEV_NONE (`on`) or NULL: 0, or the errno it failed with. */
static int fault_notify_none(mqd_t q, int on) T_UNUSED;
static int fault_notify_none(mqd_t q, int on)
{
    struct sigevent none;
    memset(&none, 0, sizeof none);
    none.sigev_notify = SIGEV_NONE;
    return mq_notify(q, on ? &none : NULL) == 0 ? 0 : errno;
}

/* One step of a test's rounds, and how often it gave another answer than the kernel's. */
struct fault_step {
    const char *what;
    int expected; /* the kernel's errno; 0: success */
    long failed;
    int first;    /* the first other answer */
};

/* Counts one answer: `got`, an errno or 0. */
static void fault_step_tally(struct fault_step *s, int got) T_UNUSED;
static void fault_step_tally(struct fault_step *s, int got)
{
    if (got != s->expected && s->failed++ == 0)
        s->first = got;
}

static void fault_step_say(const struct fault_step *s) T_UNUSED;
static void fault_step_say(const struct fault_step *s)
{
    if (s->failed == 0)
        t_say("%s: every one as the kernel's", s->what);
    else
        t_say("%s: %ld not as the kernel's (first %s)", s->what, s->failed, s->first ? t_errno_name(s->first) : "success");
}

#endif /* MQT_FAULT_H */
