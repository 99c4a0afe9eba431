/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): it keeps no shared files, so there is nothing to corrupt
 * (as on the kernel configurations), and the 1 152 forked children, each connecting to the
 * server, take 5-20 s on this 2-CPU machine: the watchdog, not the subject, would decide. */
/* Shown failing on the code before bounded lock waits: after a corrupted word, calls hung until
 * the child's 3 s alarm (msgget, msgrcv IPC_NOWAIT, msgsnd, msgctl IPC_RMID, mq_open). */
/* Whatever another process (crashed, buggy or hostile) wrote into the emulation's shared files,
 * every call returns within its bound with a result or EIO, and never dies of a signal: on the
 * kernel a queue's state is out of every process's reach, so there is nothing to corrupt; an emulation must validate everything it reads from shared memory (lock
 * words included) and turn what it cannot trust into EIO in bounded time.
 *
 * Seeded; 12 epochs of 96 rounds, each epoch a re-execution of the test in a fresh namespace
 * of its own (under the emulation: a directory next to $MQSHIM_DIR, removed afterwards), so one
 * corruption that makes everything EIO does not end the search. An epoch creates a POSIX queue
 * and a System V queue holding a few messages; then, each round, the epoch's process makes one
 * to three corruptions (about one round in 8: four in every file), each a pseudo-random byte or
 * a whole 4-byte word (lock words, indices, counts), mostly in the first 4 KiB where headers
 * live, in a pseudo-random regular file under the namespace (walked without knowing names,
 * links not followed; on the kernel configurations there is none); then a forked child makes
 * the calls: a fresh mq_open and msgget, mq_getattr and IPC_STAT, non-blocking receive and
 * send of each API, mq_timedreceive and mq_timedsend with a 20 ms deadline. Each must return
 * within 500 ms (timed: deadline + 500 ms) with a result or EIO (results the kernel would not
 * give there, such as ENOENT for a queue whose key was corrupted, are counted on stderr); the
 * child has an alarm, so a hang ends it, and a crash shows as its signal. Every 4th round
 * removes the queues and creates fresh ones (restoring nothing), so later rounds attack fresh
 * state too. The transcript says only that every round returned within bound, or the first
 * violation; stderr has the seed and how many calls returned EIO. A child may be ended by its
 * alarm, so the test is uncounted. */
#include "harness.h"
#include "mqt_fault.h"
#include <sys/mman.h>

#define EPOCHS 12                           /* each in a fresh namespace */
#define ROUNDS 96                           /* per epoch */
#define RECREATE_EVERY 4
#define MAXMSG 8
#define MSGSIZE 64
#define MESSAGES 3                          /* in a fresh queue */
#define MAX_CORRUPTIONS 3                   /* per round, but for a heavy round */
#define HEAVY_EVERY 8                       /* about one round in 8 makes 4 per file */
#define HEAVY_PER_FILE 4
/* The library waits at most 20 ms for a lock (220 ms while its holder runs); the rest absorbs
 * scheduling on a loaded 2-CPU machine running tests in parallel. A hang is seconds. */
#define BOUND_NS (500 * 1000000LL)
#define TIMED_MS 20
#define CHILD_ALARM_S 3

enum fuzz_call {
    F_MQ_OPEN, F_MQ_GETATTR, F_MQ_RECEIVE, F_MQ_SEND, F_MQ_TIMEDRECEIVE, F_MQ_TIMEDSEND,
    F_MQ_CLOSE, F_MSGGET, F_MSGCTL_STAT, F_MSGRCV, F_MSGSND, F_MQ_UNLINK, F_MSGCTL_RMID,
    F_MQ_CREATE, F_MQ_SEND_FILL, F_MSGGET_CREATE, F_MSGSND_FILL, F_COUNT
};

/* The queues of the current generation, and what the children report. */
struct fuzz_shared {
    int generation;
    key_t key;
    int posix_gone;                         /* not created (EIO) or removed: ENOENT is right */
    int sysv_gone;
    int call;                               /* the call a round child is in, or -1 */
    int violation;                          /* 1 when `call` broke its bound or erred */
    int err;
    long long took_ms;
    long outcomes[F_COUNT][2];              /* per call: returned EIO, returned otherwise */
    long other_results;                     /* results the kernel would not give there */
};
static struct fuzz_shared *sh;
static int epoch_index;                    /* which of the re-executed epochs this is */

static const char *const fuzz_names[F_COUNT] = {
    "mq_open", "mq_getattr", "mq_receive (O_NONBLOCK)", "mq_send (O_NONBLOCK)",
    "mq_timedreceive (20 ms)", "mq_timedsend (20 ms)", "mq_close", "msgget", "msgctl (IPC_STAT)",
    "msgrcv (IPC_NOWAIT)", "msgsnd (IPC_NOWAIT)", "mq_unlink", "msgctl (IPC_RMID)",
    "mq_open (O_CREAT|O_EXCL)", "mq_send (fresh queue)", "msgget (IPC_CREAT|IPC_EXCL)",
    "msgsnd (fresh queue)",
};

/* A generation's POSIX queue name (more generations than the harness keeps names for), recorded
 * for run.sh's cleanup when it is first made. */
static const char *posix_name(int generation)
{
    static char name[300];
    snprintf(name, sizeof name, "/mqt-%s-fuzz%d-%d", t_runid, epoch_index, generation);
    return name;
}

/* ------------------------------------------------------------------------------------------ */
/* the calls, each timed and judged                                                           */

static int64_t call_start;

static void begin(enum fuzz_call c)
{
    sh->call = c;
    call_start = fault_now_ns();
    errno = 0;
}

/* Ends the call begun last: `ok` says whether its result is one the kernel could give there,
 * `timed` whether it had the timed calls' deadline. What is judged is the promise for
 * corrupt shared state: a result (any: corrupt state may legitimately make a queue unknown or
 * empty) or EIO, within the bound — never a hang or a signal. Results the kernel would not give
 * are counted (stderr) but not a violation. A violation is recorded and ends the child. */
static void end(int ok, int timed)
{
    int e = errno;
    int64_t took = fault_now_ns() - call_start;
    int64_t bound = BOUND_NS + (timed ? TIMED_MS * 1000000LL : 0);
    sh->outcomes[sh->call][e == EIO ? 0 : 1]++;
    if (!ok && e != EIO)
        sh->other_results++;
    if (took <= bound) {
        sh->call = -1;
        return;
    }
    sh->violation = 1;
    sh->err = 0;
    sh->took_ms = took / 1000000;
    exit(0);
}

/* The child of a round: every call once, on the current generation's queues. */
static void round_calls(void)
{
    const char *name = posix_name(sh->generation);
    char buf[MSGSIZE];
    struct t_msg m;
    struct mq_attr a;
    struct msqid_ds ds;
    unsigned prio;
    memset(buf, 'f', sizeof buf);
    memset(&m, 0, sizeof m);

    begin(F_MQ_OPEN);
    mqd_t qnb = mq_open(name, O_RDWR | O_NONBLOCK);
    end(qnb != (mqd_t)-1 || (sh->posix_gone && errno == ENOENT), 0);
    mqd_t qb = (mqd_t)-1;
    if (qnb != (mqd_t)-1) {
        begin(F_MQ_OPEN);
        qb = mq_open(name, O_RDWR);
        end(qb != (mqd_t)-1, 0);
    }
    if (qnb != (mqd_t)-1) {
        begin(F_MQ_GETATTR);
        end(mq_getattr(qnb, &a) == 0, 0);
        begin(F_MQ_RECEIVE);
        end(mq_receive(qnb, buf, MSGSIZE, &prio) >= 0 || errno == EAGAIN, 0);
        begin(F_MQ_SEND);
        end(mq_send(qnb, buf, 16, 1) == 0 || errno == EAGAIN, 0);
    }
    if (qb != (mqd_t)-1) {
        struct timespec dl = t_deadline_ms(TIMED_MS);
        begin(F_MQ_TIMEDRECEIVE);
        end(mq_timedreceive(qb, buf, MSGSIZE, &prio, &dl) >= 0 || errno == ETIMEDOUT, 1);
        dl = t_deadline_ms(TIMED_MS);
        begin(F_MQ_TIMEDSEND);
        end(mq_timedsend(qb, buf, 16, 2, &dl) == 0 || errno == ETIMEDOUT, 1);
        begin(F_MQ_CLOSE);
        end(mq_close(qb) == 0, 0);
    }
    if (qnb != (mqd_t)-1) {
        begin(F_MQ_CLOSE);
        end(mq_close(qnb) == 0, 0);
    }

    begin(F_MSGGET);
    int id = msgget(sh->key, 0);
    end(id >= 0 || (sh->sysv_gone && errno == ENOENT), 0);
    if (id >= 0) {
        begin(F_MSGCTL_STAT);
        end(msgctl(id, IPC_STAT, &ds) == 0, 0);
        begin(F_MSGRCV);
        end(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT | MSG_NOERROR) >= 0 || errno == ENOMSG, 0);
        m.mtype = 1;
        begin(F_MSGSND);
        end(msgsnd(id, &m, 16, IPC_NOWAIT) == 0 || errno == EAGAIN, 0);
    }
}

/* Removes the current generation's queues (a removal may meet EIO after corruption). */
static void remove_queues(void)
{
    begin(F_MQ_UNLINK);
    int r = mq_unlink(posix_name(sh->generation));
    end(r == 0 || (sh->posix_gone && errno == ENOENT), 0);
    sh->posix_gone |= r == 0;
    begin(F_MSGGET);
    int id = msgget(sh->key, 0);
    end(id >= 0 || (sh->sysv_gone && errno == ENOENT), 0);
    if (id >= 0) {
        begin(F_MSGCTL_RMID);
        r = msgctl(id, IPC_RMID, NULL);
        end(r == 0, 0);
        sh->sysv_gone |= r == 0;
    }
}

/* A per-run key for a generation's System V queue, recorded for run.sh's cleanup. */
static key_t generation_key(int generation, int attempt)
{
    char tag[32];
    snprintf(tag, sizeof tag, "fuzzkey%d-%d", epoch_index, generation);
    uint32_t h = t_fnv1a(tag, t_fnv1a(t_runid, 2166136261u));
    key_t key = (key_t)(0x10000000u + (h + (uint32_t)attempt * 7919u) % 0x60000000u);
    char k[32];
    snprintf(k, sizeof k, "0x%08x", (unsigned)key);
    t_record_cleanup("msgkey", k);
    return key;
}

/* Creates the next generation's queues, with a few messages each. */
static void create_queues(int generation)
{
    struct mq_attr a = { 0 };
    a.mq_maxmsg = MAXMSG;
    a.mq_msgsize = MSGSIZE;
    char buf[MSGSIZE];
    memset(buf, 'n', sizeof buf);
    sh->generation = generation;

    t_record_cleanup("mq", posix_name(generation));
    begin(F_MQ_CREATE);
    mqd_t q = mq_open(posix_name(generation), O_RDWR | O_CREAT | O_EXCL, 0600, &a);
    end(q != (mqd_t)-1, 0);
    sh->posix_gone = q == (mqd_t)-1;
    for (int i = 0; q != (mqd_t)-1 && i < MESSAGES; i++) {
        begin(F_MQ_SEND_FILL);
        end(mq_send(q, buf, 8 + (size_t)i, (unsigned)i) == 0, 0);
    }
    if (q != (mqd_t)-1) {
        begin(F_MQ_CLOSE);
        end(mq_close(q) == 0, 0);
    }

    int id = -1;
    for (int attempt = 0; attempt < 64; attempt++) {
        sh->key = generation_key(generation, attempt);
        begin(F_MSGGET_CREATE);
        id = msgget(sh->key, IPC_CREAT | IPC_EXCL | 0600);
        int eexist = id < 0 && errno == EEXIST;
        if (!eexist)
            end(id >= 0, 0);
        if (!eexist)
            break;
    }
    sh->sysv_gone = id < 0;
    struct t_msg m;
    memset(&m, 'n', sizeof m);
    for (int i = 0; id >= 0 && i < MESSAGES; i++) {
        m.mtype = 1 + i;
        begin(F_MSGSND_FILL);
        end(msgsnd(id, &m, 8 + (size_t)i, IPC_NOWAIT) == 0, 0);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* corruption                                                                                 */

/* Which regular file a corruption goes to: the walk counts them (`target` < 0) or corrupts
 * the target-th. */
struct corrupt_pick {
    long seen;
    long target;
};

/* One corruption of an open file: a whole aligned 4-byte word (a lock word, an index, a
 * count...) or one byte, mostly in the first 4 KiB (headers), sometimes in the first 64 KiB,
 * sometimes anywhere. */
static void corrupt_once(int fd, off_t size)
{
    off_t span = size;
    uint64_t where = fault_below(4);
    if (where < 2 && span > 4096)
        span = 4096;
    else if (where == 2 && span > 65536)
        span = 65536;
    if (fault_below(3) != 0) {
        uint32_t word;
        switch (fault_below(5)) {
        case 0: word = 0xffffffffu; break;
        case 1: word = 0; break;
        case 2: word = 0x80000000u | (uint32_t)fault_below(1u << 30); break;
        case 3: word = (uint32_t)fault_below(1u << 22); break;       /* pid-like, or an index */
        default: word = (uint32_t)fault_rand(); break;
        }
        off_t at = (off_t)fault_below((uint64_t)(span / 4)) * 4;
        if (at + 4 <= size && pwrite(fd, &word, 4, at) != 4) { /* best effort */ }
    } else {
        unsigned char byte = (unsigned char)fault_rand();
        off_t at = (off_t)fault_below((uint64_t)span);
        if (pwrite(fd, &byte, 1, at) != 1) { /* best effort */ }
    }
}

static void corrupt_visit(int dirfd, const char *name, const struct stat *st, void *ctx)
{
    struct corrupt_pick *pick = ctx;
    if (!S_ISREG(st->st_mode) || st->st_size <= 0)
        return;
    if (pick->seen++ != pick->target)
        return;
    int fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    corrupt_once(fd, st->st_size);
    close(fd);
}

/* A few corruptions, each in a pseudo-random regular file under the namespace (root writes
 * any; read-only modes do not protect a file from root). */
static void corrupt(const char *ns)
{
    struct corrupt_pick count = { 0, -1 };
    fault_walk(ns, corrupt_visit, &count);
    if (count.seen == 0)
        return;
    int heavy = fault_below(HEAVY_EVERY) == 0;
    long n = heavy ? count.seen * HEAVY_PER_FILE : 1 + (long)fault_below(MAX_CORRUPTIONS);
    for (long i = 0; i < n; i++) {
        struct corrupt_pick pick = { 0, heavy ? i / HEAVY_PER_FILE
                                              : (long)fault_below((uint64_t)count.seen) };
        fault_walk(ns, corrupt_visit, &pick);
    }
}

/* ------------------------------------------------------------------------------------------ */

/* Runs `body` in a child with an alarm; returns 1 when it kept every bound, else prints the
 * violation (round `round`, or -1 for the setup and the final cleanup) and returns 0. */
static int in_child(void (*body)(void), int round)
{
    sh->call = -1;
    sh->violation = 0;
    pid_t pid = t_fork();
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);            /* a hang ends the child, not the test */
        alarm(CHILD_ALARM_S);
        body();
        t_finished = 1;
        exit(0);
    }
    int code = t_reap(pid);
    char where[64];
    if (round >= 0)
        snprintf(where, sizeof where, "epoch %d round %d", epoch_index, round);
    else
        snprintf(where, sizeof where, "epoch %d setup/cleanup", epoch_index);
    const char *call = sh->call >= 0 && sh->call < F_COUNT ? fuzz_names[sh->call] : "(between calls)";
    if (code == 128 + SIGALRM) {
        t_say("first violation: %s: %s did not return within %d s", where, call, CHILD_ALARM_S);
    } else if (code > 128) {
        t_say("first violation: %s: %s killed by signal %s", where, call, strsignal(code - 128));
    } else if (code != 0) {
        t_say("first violation: %s: child exit %d in %s", where, code, call);
    } else if (sh->violation) {
        if (sh->err)
            t_say("first violation: %s: %s -> -1 %s after %lld ms", where, call,
                  t_errno_name(sh->err), sh->took_ms);
        else
            t_say("first violation: %s: %s took %lld ms", where, call, sh->took_ms);
    } else {
        return 1;
    }
    t_failures++;
    return 0;
}

static int next_generation;

static void recreate(void)
{
    remove_queues();
    create_queues(next_generation);
}

static void first_queues(void)
{
    create_queues(0);
}

/* One epoch, in its own namespace (the re-executed program): fresh queues, then the rounds.
 * Prints only a violation; exits 1 after one. */
static int run_epoch(int epoch, uint64_t seed)
{
    t_is_child = 1;                          /* the parent reports and cleans up */
    t_finished = 1;
    epoch_index = epoch;
    fault_rng_state = seed ? seed : 1;
    const char *ns = fault_namespace();
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);

    int ok = in_child(first_queues, -1);
    for (int round = 0; ok && round < ROUNDS; round++) {
        if (round % RECREATE_EVERY == RECREATE_EVERY - 1) {
            next_generation = sh->generation + 1;
            ok = in_child(recreate, round);
            continue;
        }
        if (ns)
            corrupt(ns);
        ok = in_child(round_calls, round);
    }
    long eio = 0, calls = 0;                 /* how far the corruption got, for the record */
    for (int c = 0; c < F_COUNT; c++) {
        eio += sh->outcomes[c][0];
        calls += sh->outcomes[c][0] + sh->outcomes[c][1];
    }
    fprintf(stderr, "epoch %d: %ld of %ld calls returned EIO, %ld another result\n", epoch, eio,
            calls, sh->other_results);
    /* The last generation's queues go (older ones went at each recreation). */
    ok &= in_child(remove_queues, -1);
    fflush(stdout);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--epoch") == 0)
        return run_epoch(atoi(argv[2]), strtoull(argv[3], NULL, 0));

    fault_seed("fault_segment_corruption_fuzz");
    t_uncounted();
    /* Each epoch re-executes this program; under the emulation in a namespace of its own next
     * to $MQSHIM_DIR (the library reads MQSHIM_DIR once per program), removed afterwards. */
    const char *base = fault_namespace();
    char dir[4096] = "";
    int ok = 1;
    for (int epoch = 0; ok && epoch < EPOCHS; epoch++) {
        if (base) {
            snprintf(dir, sizeof dir, "%s.fuzz%d", base, epoch);
            T_REQUIRE(setenv("MQSHIM_DIR", dir, 1) == 0);
        }
        char index[16], seed[32];
        snprintf(index, sizeof index, "%d", epoch);
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)fault_rand());
        pid_t pid = t_fork();
        if (pid == 0) {
            char *args[] = { argv[0], (char *)"--epoch", index, seed, NULL };
            execv("/proc/self/exe", args);
            printf("HARNESS: re-exec failed (%s)\n", t_errno_name(errno));
            exit(97);
        }
        int code = t_reap(pid);
        if (code != 0) {
            /* The seed is in the transcript only here, where it differs anyway: the runner
             * shows a failing case's transcript, not its stderr. */
            t_say("epoch %d failed (exit %d); replay it: PROGRAM --epoch %d %s", epoch, code, epoch, seed);
            t_failures++;
            ok = 0;
        }
        if (base)
            fault_remove_tree(dir);
    }
    if (ok)
        t_say("rounds: all returned within bound");
    return t_finish();
}
