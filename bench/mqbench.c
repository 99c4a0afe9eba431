/*
 * mqbench — message-queue benchmarks for mqshim (POSIX mq_* and SysV msg*).
 *
 * Build:  cc -O2 -Wall -Wextra -pthread -o mqbench bench/mqbench.c -lrt
 * Usage:  mqbench <stream|pingpong|micro|control|memory|probe> [options]   (mqbench --help)
 *
 * Every sub-benchmark prints exactly one line on stdout (control: one per op and level):
 *   RESULT name=<name> bench=<kind> api=<posix|sysv> size=<B> placement=<p> unit=<u>
 *          value=<v> calls=<c> n=<ops> secs=<s> status=ok [extra fields]
 * `value` is the headline figure (msg/s for streaming, median ns per op for the
 * others); `calls` is the number of intercepted calls on the critical path of one
 * op, so a per-call overhead is delta(ns per op) / calls.  On failure the line has
 * status=error|unsupported|timeout, value=nan and reason=<text>, and the exit code is
 * non-zero (4 for unsupported, e.g. maxmsg above the kernel's limit).
 *
 * control and memory run in the parent itself, pinned to the first CPU.  Otherwise
 * all work happens in forked children pinned according to --placement; the parent
 * only creates the queues, releases the children together, collects their reports
 * through pipes, reaps them and always removes what it created.  Nothing can hang:
 * the parent has an alarm() that SIGKILLs the children, and each child has its own
 * alarm() and PR_SET_PDEATHSIG.
 *
 * Runs are time-based by default (--seconds, 0.5 s): the timed part of each
 * sub-benchmark lasts that long whatever the configuration, so a slow traced run
 * does not take ten times longer.  --count N gives a fixed amount of work instead.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEQ_STOP UINT64_MAX
#define MAX_SIZE (1u << 20)
#define SYSV_MAX_TYPE 32768L
/* msg_qbytes of a SysV stream queue: the kernel's stock msgmnb. */
#define SYSV_STREAM_QBYTES 16384

/* ------------------------------------------------------------------ options */

static struct {
    const char *bench;      /* stream | pingpong | micro | probe */
    const char *api;        /* posix | sysv */
    const char *op;         /* micro op */
    const char *placement;  /* cross | same | unpinned */
    const char *name;       /* override of the result name */
    size_t size;
    long maxmsg;            /* posix: mq_maxmsg; sysv: msg_qbytes = maxmsg*size */
    int random_prio;
    int fill_first;
    double seconds;
    long count;             /* 0 = time-based */
    long warmup;            /* -1 = default */
    double timeout;
    int verbose;
    long existing;          /* control: other queues to create (0 = only the 0 rows) */
    double setup_seconds;   /* control: at most this long creating them */
    int keep;               /* control: leave the other queues (a namespace thrown away) */
    int other_users;        /* control, memory: queues counted are made by other uids */
} opt = {
    .api = "posix", .placement = "cross", .size = 64, .maxmsg = 10,
    .seconds = 0.5, .warmup = -1, .setup_seconds = 20,
};

static int cpu_a = 0, cpu_b = 1;          /* the first two CPUs we may use */
static char qname[2][64];                 /* POSIX queue names we created */
static int qcreated[2];
static int sysv_id = -1;
static pid_t kids[2];
static int nkids;
static volatile sig_atomic_t stop_signal;

/* ------------------------------------------------------------------ helpers */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return rng_state = x;
}

static const char *result_name(void);

/* Print a failure RESULT line and exit; usable in the parent only. */
static void cleanup(void);
static void fail(int code, const char *status, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static void fail(int code, const char *status, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    for (char *p = reason; *p; p++)
        if (*p == ' ') *p = '_';
    cleanup();
    printf("RESULT name=%s bench=%s api=%s size=%zu placement=%s unit=- value=nan "
           "status=%s reason=%s\n", result_name(), opt.bench, opt.api, opt.size,
           opt.placement, status, reason);
    fflush(stdout);
    exit(code);
}

static void ctl_cleanup(void);
static void cleanup(void)
{
    ctl_cleanup();
    for (int i = 0; i < 2; i++)
        if (qcreated[i]) {
            mq_unlink(qname[i]);
            qcreated[i] = 0;
        }
    if (sysv_id >= 0) {
        msgctl(sysv_id, IPC_RMID, NULL);
        sysv_id = -1;
    }
}

static void on_signal(int sig)
{
    stop_signal = sig;
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0) kill(kids[i], SIGKILL);
}

static void choose_cpus(void)
{
    cpu_set_t set;
    int found = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
        if (CPU_ISSET(c, &set)) {
            if (found == 0) cpu_a = c; else cpu_b = c;
            found++;
        }
    if (found < 2) cpu_b = cpu_a;
}

/* role 0 = producer / initiator / micro, role 1 = consumer / echoer */
static int pin(int role)
{
    cpu_set_t set;
    int cpu;
    if (strcmp(opt.placement, "unpinned") == 0) return 0;
    if (strcmp(opt.placement, "same") == 0) cpu = cpu_a;
    else cpu = role == 0 ? cpu_a : cpu_b;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/* ------------------------------------------------------------------ child reports */

struct report {
    int ok;                 /* 1 = fine */
    char msg[160];
    uint64_t n;             /* ops measured */
    uint64_t ns;            /* time measured */
    double v[8];            /* kind-specific extras */
};

struct child_ctx {
    int role;
    int ready_w, go_r;      /* start barrier */
    int rep_w;              /* report pipe */
    int tok_r, tok_w;       /* fill-first turn tokens */
    pid_t parent;
};

static void child_fail(const struct child_ctx *c, struct report *r, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static void child_fail(const struct child_ctx *c, struct report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->ok = 0;
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    if (write(c->rep_w, r, sizeof *r) != (ssize_t)sizeof *r) _exit(3);
    _exit(1);
}

static void child_report(const struct child_ctx *c, struct report *r)
{
    r->ok = 1;
    if (write(c->rep_w, r, sizeof *r) != (ssize_t)sizeof *r) _exit(3);
    _exit(0);
}

static void barrier(const struct child_ctx *c, struct report *r)
{
    char b = 'r';
    if (write(c->ready_w, &b, 1) != 1) child_fail(c, r, "ready pipe: %s", strerror(errno));
    if (read(c->go_r, &b, 1) != 1) child_fail(c, r, "go pipe: %s", strerror(errno));
}

/* ------------------------------------------------------------------ message buffers */

struct sysv_msg { long mtype; char mtext[]; };

static mqd_t open_posix(const struct child_ctx *c, struct report *r, int which, int flags)
{
    mqd_t q = mq_open(qname[which], flags);
    if (q == (mqd_t)-1) child_fail(c, r, "mq_open(%s): %s", qname[which], strerror(errno));
    return q;
}

static inline void put_seq(char *p, uint64_t s) { memcpy(p, &s, 8); }
static inline uint64_t get_seq(const char *p) { uint64_t s; memcpy(&s, p, 8); return s; }

/* ------------------------------------------------------------------ stream */

static long warmup_msgs(void)
{
    if (opt.warmup >= 0) return opt.warmup;
    if (opt.count) return opt.count / 10 < 1000 ? opt.count / 10 : 1000;
    return 1000;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stream_producer(struct child_ctx *c)
{
    struct report r = {0};
    int posix = strcmp(opt.api, "posix") == 0;
    size_t sz = opt.size;
    struct sysv_msg *m = calloc(1, sizeof(long) + sz);
    char *buf = m->mtext;
    mqd_t q = posix ? open_posix(c, &r, 0, O_WRONLY) : (mqd_t)-1;
    long prio_max = sysconf(_SC_MQ_PRIO_MAX);
    if (prio_max <= 0) prio_max = 32768;
    memset(buf, 'x', sz);
    barrier(c, &r);

    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(opt.seconds * 1e9), busy = 0;
    uint64_t total = 0;
    for (;;) {
        uint64_t tr = now_ns(), i;
        uint64_t limit = opt.count ? (uint64_t)opt.count : UINT64_MAX;
        for (i = 0; i < limit; i++) {
            unsigned prio = opt.random_prio ? (unsigned)(rng() % (uint64_t)prio_max) : 0;
            put_seq(buf, i);
            if (posix) {
                if (mq_send(q, buf, sz, prio) != 0)
                    child_fail(c, &r, "mq_send: %s", strerror(errno));
            } else {
                m->mtype = opt.random_prio ? 1 + (long)(rng() % (SYSV_MAX_TYPE - 1)) : 1;
                if (msgsnd(sysv_id, m, sz, 0) != 0)
                    child_fail(c, &r, "msgsnd: %s", strerror(errno));
            }
            if (!opt.count && (i & 63) == 63 && now_ns() >= deadline) { i++; break; }
        }
        busy += now_ns() - tr;
        total += i;
        if (!opt.fill_first) break;
        /* fill-first: hand over to the consumer, wait until it drained, go on
         * in rounds until --seconds of wall time have passed */
        char tok = 'f';
        if (write(c->tok_w, &tok, 1) != 1) child_fail(c, &r, "token write: %s", strerror(errno));
        if (read(c->tok_r, &tok, 1) != 1) child_fail(c, &r, "token read: %s", strerror(errno));
        if (now_ns() >= deadline) {
            tok = 'q';
            if (write(c->tok_w, &tok, 1) != 1) child_fail(c, &r, "token write: %s", strerror(errno));
            break;
        }
    }
    if (!opt.fill_first && !opt.count) {      /* sentinel: lowest priority / highest type */
        put_seq(buf, SEQ_STOP);
        if (posix ? mq_send(q, buf, sz, 0) != 0
                  : (m->mtype = opt.random_prio ? SYSV_MAX_TYPE : 1,
                     msgsnd(sysv_id, m, sz, 0) != 0))
            child_fail(c, &r, "send stop: %s", strerror(errno));
    }
    r.n = total;
    r.ns = busy;
    child_report(c, &r);
}

static void stream_consumer(struct child_ctx *c)
{
    struct report r = {0};
    int posix = strcmp(opt.api, "posix") == 0;
    size_t sz = opt.size;
    struct sysv_msg *m = calloc(1, sizeof(long) + sz);
    char *buf = m->mtext;
    mqd_t q = posix ? open_posix(c, &r, 0, O_RDONLY) : (mqd_t)-1;
    long rtype = opt.random_prio ? -SYSV_MAX_TYPE : 0;
    uint64_t warm = opt.fill_first ? 0 : (uint64_t)warmup_msgs();
    uint64_t order_errors = 0, n_total = 0, busy = 0, t_start = 0;
    /* throughput of each window of WIN messages, for the percentiles */
    enum { WIN = 512, WMAX = 1 << 16 };
    double *wrate = malloc(WMAX * sizeof *wrate);
    size_t nw = 0;
    uint64_t wprev = 0, t_first = 0, warm_ns = (uint64_t)(opt.seconds * 0.05e9);
    int warming = warm > 0;
    if (!wrate) child_fail(c, &r, "out of memory");
    barrier(c, &r);

    for (;;) {
        if (opt.fill_first) {
            char tok;
            if (read(c->tok_r, &tok, 1) != 1) child_fail(c, &r, "token: %s", strerror(errno));
            if (tok == 'q') break;
        }
        uint64_t expect = 0, n = 0;
        unsigned last_prio = UINT_MAX;
        long last_type = 0;
        uint64_t last_seq = 0;
        uint64_t tr = now_ns();
        if (!opt.fill_first) t_start = wprev = tr;
        for (;;) {
            unsigned prio = 0;
            ssize_t got;
            if (posix) {
                got = mq_receive(q, buf, sz, &prio);
                if (got < 0) child_fail(c, &r, "mq_receive: %s", strerror(errno));
            } else {
                got = msgrcv(sysv_id, m, sz, rtype, 0);
                if (got < 0) child_fail(c, &r, "msgrcv: %s", strerror(errno));
            }
            if ((size_t)got != sz) child_fail(c, &r, "short message: %zd of %zu", got, sz);
            uint64_t seq = get_seq(buf);
            if (seq == SEQ_STOP) break;
            if (!opt.random_prio) {
                if (seq != expect) order_errors++;
                expect = seq + 1;
            } else if (opt.fill_first) {
                /* whole queue present: strictly by priority (type), FIFO within one */
                if (posix) {
                    if (prio > last_prio || (prio == last_prio && seq <= last_seq)) order_errors++;
                    last_prio = prio;
                } else {
                    if (m->mtype < last_type || (m->mtype == last_type && seq <= last_seq))
                        order_errors++;
                    last_type = m->mtype;
                }
                last_seq = seq;
            }
            n++;
            if (!opt.fill_first) {
                if (warming) {
                    /* warm-up ends after `warm` messages or 5% of the run, whichever first */
                    uint64_t tn = now_ns();
                    if (n == 1) t_first = tn;
                    if (n >= warm || (!opt.count && tn - t_first >= warm_ns)) {
                        warming = 0;
                        warm = n;
                        t_start = wprev = tn;
                    }
                } else if ((n - warm) % WIN == 0) {
                    uint64_t tw = now_ns();
                    if (nw < WMAX) wrate[nw++] = (double)WIN * 1e9 / (double)(tw - wprev);
                    wprev = tw;
                }
            }
            if (opt.count && n == (uint64_t)opt.count) break;
        }
        uint64_t te = now_ns();
        if (opt.fill_first) {
            busy += te - tr;
            n_total += n;
            char tok = 'd';
            if (write(c->tok_w, &tok, 1) != 1) child_fail(c, &r, "token write");
        } else {
            if (n <= warm) child_fail(c, &r, "only %" PRIu64 " messages (warm-up %" PRIu64 ")", n, warm);
            busy = te - t_start;
            n_total = n - warm;
            break;
        }
    }
    if (order_errors)
        child_fail(c, &r, "%" PRIu64 " messages out of order", order_errors);
    r.n = n_total;
    r.ns = busy;
    if (nw) {
        qsort(wrate, nw, sizeof *wrate, cmp_double);
        r.v[0] = wrate[nw / 2];          /* median window */
        r.v[1] = wrate[nw * 9 / 10];     /* p90 window: the fast state */
        if (opt.verbose) {
            /* where did the time go: share of the run spent in windows below half the median */
            double slow = 0, all = 0;
            for (size_t i = 0; i < nw; i++) {
                all += WIN / wrate[i];
                if (wrate[i] < wrate[nw / 2] / 2) slow += WIN / wrate[i];
            }
            fprintf(stderr, "windows of %d msgs: n=%zu min=%.0f p1=%.0f p10=%.0f p50=%.0f p90=%.0f "
                    "max=%.0f msg/s; %.0f%% of the time in windows < median/2\n", WIN, nw,
                    wrate[0], wrate[nw / 100], wrate[nw / 10], wrate[nw / 2], wrate[nw * 9 / 10],
                    wrate[nw - 1], all > 0 ? 100 * slow / all : 0);
        }
    }
    child_report(c, &r);
}

/* ------------------------------------------------------------------ ping-pong */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void pp_initiator(struct child_ctx *c)
{
    struct report r = {0};
    int posix = strcmp(opt.api, "posix") == 0;
    size_t sz = opt.size;
    struct sysv_msg *m = calloc(1, sizeof(long) + sz);
    char *buf = m->mtext;
    mqd_t qreq = (mqd_t)-1, qrsp = (mqd_t)-1;
    if (posix) {
        qreq = open_posix(c, &r, 0, O_WRONLY);
        qrsp = open_posix(c, &r, 1, O_RDONLY);
    }
    size_t cap = opt.count ? (size_t)opt.count : 4u << 20;
    uint32_t *lat = malloc(cap * sizeof *lat);
    if (!lat) child_fail(c, &r, "out of memory");
    memset(buf, 'p', sz);
    barrier(c, &r);

#define ROUND_TRIP(seqv) do {                                                      \
        put_seq(buf, (seqv));                                                       \
        if (posix) {                                                                \
            if (mq_send(qreq, buf, sz, 0) != 0)                                     \
                child_fail(c, &r, "mq_send: %s", strerror(errno));                  \
            if (mq_receive(qrsp, buf, sz, NULL) != (ssize_t)sz)                     \
                child_fail(c, &r, "mq_receive: %s", strerror(errno));               \
        } else {                                                                    \
            m->mtype = 1;                                                           \
            if (msgsnd(sysv_id, m, sz, 0) != 0)                                     \
                child_fail(c, &r, "msgsnd: %s", strerror(errno));                   \
            if (msgrcv(sysv_id, m, sz, 2, 0) != (ssize_t)sz)                        \
                child_fail(c, &r, "msgrcv: %s", strerror(errno));                   \
        }                                                                           \
    } while (0)

    /* warm-up: explicit count, else 5% of the run (at most 20000 round trips) */
    uint64_t t = now_ns(), wend = t + (uint64_t)(opt.seconds * 0.05e9);
    long wn = opt.warmup >= 0 ? opt.warmup : 20000;
    for (long i = 0; i < wn; i++) {
        ROUND_TRIP((uint64_t)i);
        if (opt.warmup < 0 && now_ns() >= wend) break;
    }

    uint64_t start = now_ns(), deadline = start + (uint64_t)(opt.seconds * 1e9), prev = start;
    size_t n = 0;
    while (n < cap) {
        ROUND_TRIP((uint64_t)n);
        uint64_t tn = now_ns();
        uint64_t d = tn - prev;
        lat[n++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        prev = tn;
        if (!opt.count && tn >= deadline) break;
    }
    uint64_t total = prev - start;
    put_seq(buf, SEQ_STOP);
    if (posix ? mq_send(qreq, buf, sz, 0) != 0 : (m->mtype = 1, msgsnd(sysv_id, m, sz, 0) != 0))
        child_fail(c, &r, "send stop: %s", strerror(errno));
#undef ROUND_TRIP

    qsort(lat, n, sizeof *lat, cmp_u32);
    r.n = n;
    r.ns = total;
    r.v[0] = lat[n / 2];                 /* median */
    r.v[1] = lat[0];                     /* min */
    r.v[2] = lat[n / 10];                /* p10 */
    r.v[3] = lat[n * 9 / 10];            /* p90 */
    r.v[4] = lat[(size_t)((double)n * 0.99)]; /* p99 */
    child_report(c, &r);
}

static void pp_echoer(struct child_ctx *c)
{
    struct report r = {0};
    int posix = strcmp(opt.api, "posix") == 0;
    size_t sz = opt.size;
    struct sysv_msg *m = calloc(1, sizeof(long) + sz);
    char *buf = m->mtext;
    mqd_t qreq = (mqd_t)-1, qrsp = (mqd_t)-1;
    if (posix) {
        qreq = open_posix(c, &r, 0, O_RDONLY);
        qrsp = open_posix(c, &r, 1, O_WRONLY);
    }
    barrier(c, &r);
    uint64_t n = 0;
    for (;;) {
        if (posix) {
            if (mq_receive(qreq, buf, sz, NULL) != (ssize_t)sz)
                child_fail(c, &r, "mq_receive: %s", strerror(errno));
        } else {
            if (msgrcv(sysv_id, m, sz, 1, 0) != (ssize_t)sz)
                child_fail(c, &r, "msgrcv: %s", strerror(errno));
        }
        if (get_seq(buf) == SEQ_STOP) break;
        if (posix) {
            if (mq_send(qrsp, buf, sz, 0) != 0)
                child_fail(c, &r, "mq_send: %s", strerror(errno));
        } else {
            m->mtype = 2;
            if (msgsnd(sysv_id, m, sz, 0) != 0)
                child_fail(c, &r, "msgsnd: %s", strerror(errno));
        }
        n++;
    }
    r.n = n;
    child_report(c, &r);
}

/* ------------------------------------------------------------------ micro */

static const char *const micro_ops[] = {
    "mq_eagain", "mq_getattr", "mq_sendrecv", "msg_enomsg", "msg_ipcstat", "msg_sendrecv",
    "getppid", "mq_getattr_raw", "mq_sendrecv_raw", "msg_sendrecv_raw", "mq_fstat", "dup_close", NULL,
};

static int micro_calls(const char *op) { return strstr(op, "sendrecv") ? 2 : 1; }
static int micro_posix(const char *op) { return strncmp(op, "mq_", 3) == 0; }
static int micro_sysv(const char *op) { return strncmp(op, "msg_", 4) == 0; }
/* *_raw: the same calls made with syscall(2), past libc — under mqshim they reach the backend
 * only with MQSHIM_SYSCALLS=trap (a trapped call), else the kernel, which does not know an
 * emulated queue: the row is then "unsupported" (probed before the run). */
static int micro_raw(const char *op) { return strstr(op, "_raw") != NULL; }

static void micro_child(struct child_ctx *c)
{
    struct report r = {0};
    const char *op = opt.op;
    size_t sz = opt.size;
    struct sysv_msg *m = calloc(1, sizeof(long) + sz);
    char *buf = m->mtext;
    mqd_t q = (mqd_t)-1;
    struct mq_attr attr;
    struct msqid_ds ds;
    struct stat st;
    uint64_t bad = 0;
    int which = -1;
    for (int i = 0; micro_ops[i]; i++)
        if (strcmp(op, micro_ops[i]) == 0) which = i;
    if (which < 0) child_fail(c, &r, "unknown op %s", op);
    if (micro_posix(op))
        q = open_posix(c, &r, 0, O_RDWR | (which == 0 ? O_NONBLOCK : 0));
    memset(buf, 'm', sz);
    m->mtype = 1;
    barrier(c, &r);

    /* batches of B ops; batch means are collected and their median reported */
    enum { B = 256 };
    size_t cap = 1u << 16, nb = 0;
    double *bmean = malloc(cap * sizeof *bmean);
    uint64_t warm_end = now_ns() + (uint64_t)(opt.seconds * 0.05e9);
    uint64_t start = 0, deadline = 0, prev = 0, total_ops = 0;
    int warming = 1;
    long batches_left = opt.count ? (opt.count + B - 1) / B : -1;
    for (;;) {
        switch (which) {
        case 0:
            for (int i = 0; i < B; i++)
                if (mq_receive(q, buf, sz, NULL) != -1 || errno != EAGAIN) bad++;
            break;
        case 1:
            for (int i = 0; i < B; i++)
                if (mq_getattr(q, &attr) != 0) bad++;
            break;
        case 2:
            for (int i = 0; i < B; i++) {
                if (mq_send(q, buf, sz, 0) != 0) bad++;
                if (mq_receive(q, buf, sz, NULL) != (ssize_t)sz) bad++;
            }
            break;
        case 3:
            for (int i = 0; i < B; i++)
                if (msgrcv(sysv_id, m, sz, 0, IPC_NOWAIT) != -1 || errno != ENOMSG) bad++;
            break;
        case 4:
            for (int i = 0; i < B; i++)
                if (msgctl(sysv_id, IPC_STAT, &ds) != 0) bad++;
            break;
        case 5:
            for (int i = 0; i < B; i++) {
                if (msgsnd(sysv_id, m, sz, 0) != 0) bad++;
                if (msgrcv(sysv_id, m, sz, 0, 0) != (ssize_t)sz) bad++;
            }
            break;
        case 6:
            for (int i = 0; i < B; i++)
                if (syscall(SYS_getppid) <= 0) bad++;
            break;
        case 7:
            for (int i = 0; i < B; i++)
                if (syscall(SYS_mq_getsetattr, q, NULL, &attr) != 0) bad++;
            break;
        case 8:
            for (int i = 0; i < B; i++) {
                if (syscall(SYS_mq_timedsend, q, buf, sz, 0, NULL) != 0) bad++;
                if (syscall(SYS_mq_timedreceive, q, buf, sz, NULL, NULL) != (long)sz) bad++;
            }
            break;
        case 9:
            for (int i = 0; i < B; i++) {
                if (syscall(SYS_msgsnd, sysv_id, m, sz, 0) != 0) bad++;
                if (syscall(SYS_msgrcv, sysv_id, m, sz, 0L, 0) != (long)sz) bad++;
            }
            break;
        case 10:
            for (int i = 0; i < B; i++)
                if (fstat(q, &st) != 0) bad++;
            break;
        case 11:
            /* no queue call: what a close of any descriptor costs (a supervised static
             * program's close is a round trip through mqshim, which must see a queue's) */
            for (int i = 0; i < B; i++)
                if (close(dup(2)) != 0) bad++;
            break;
        }
        if (bad) child_fail(c, &r, "%s: unexpected result (errno %s)", op, strerror(errno));
        uint64_t t = now_ns();
        if (warming) {
            if (t < warm_end && opt.count == 0) continue;
            warming = 0;
            start = prev = t;
            deadline = t + (uint64_t)(opt.seconds * 1e9);
            continue;
        }
        if (nb < cap) bmean[nb++] = (double)(t - prev) / B;
        prev = t;
        total_ops += B;
        if (batches_left > 0 && --batches_left == 0) break;
        if (batches_left < 0 && t >= deadline) break;
    }
    qsort(bmean, nb, sizeof *bmean, cmp_double);
    r.n = total_ops;
    r.ns = prev - start;
    r.v[0] = nb ? bmean[nb / 2] : 0;     /* median batch */
    r.v[1] = nb ? bmean[0] : 0;          /* fastest batch */
    r.v[2] = nb ? bmean[nb / 10] : 0;    /* p10 batch: the fast state */
    child_report(c, &r);
}

/* ------------------------------------------------------------------ control path */

/* The control path (open/close, create/remove) at 0 and at --existing other queues of the
 * same API in the namespace, and the memory a queue costs.  One process, pinned like micro.
 * Every queue is tiny (maxmsg 1, msgsize 16; SysV: default msg_qbytes) so the kernel's
 * RLIMIT_MSGQUEUE charge (112 bytes each, see memory below) admits thousands. */

#define CTL_MAXMSG 1
#define CTL_MSGSIZE 16
#define CTL_BATCH 16            /* ops per timed batch */
#define CTL_CYCLE 256           /* POSIX queues the cycling open row goes round (c0..c255): as
                                   many as a process keeps mapped */
#define CTL_FIRST 512           /* queues the first-open row goes round (c256..c767): more than
                                   a process keeps mapped, so each open is a first one */
#define SYSV_KEY_OTHERS 0x6d710000      /* keys of the other queues: base + index */
#define SYSV_KEY_TARGET 0x6d700001      /* the queue `msgget` looks up */
#define SYSV_KEY_FRESH 0x6d600000       /* keys the create rows take, one per op */

static char ctl_prefix[48];             /* "/mqbench-<pid>-": every POSIX name we make */
static long ctl_others;                 /* other queues existing (created by us) */
static const char *ctl_stop = "none";   /* why their creation stopped: done|time|<errno> */
static int *ctl_other_ids;              /* SysV ids of the other queues */
static int ctl_target_id = -1;          /* SysV queue looked up by key */
static int ctl_target_made;             /* POSIX target created */
static int ctl_cycle_made;              /* POSIX queues c<i> created for the cycling rows */
static long mem_made;                   /* memory: queues of this round (POSIX m<i>) */
static int *mem_ids;                    /* memory: their SysV ids */

static void ctl_name(char *buf, size_t len, const char *kind, long i)
{
    snprintf(buf, len, "%s%s%ld", ctl_prefix, kind, i);
}

/* Create others [from, want) as the calling user until done, the deadline, or a limit;
 * returns how far it got and leaves the failing errno in errno (0 when done). */
static long ctl_create_from(int posix, long from, long want, uint64_t deadline, int *ids)
{
    struct mq_attr a = { .mq_maxmsg = CTL_MAXMSG, .mq_msgsize = CTL_MSGSIZE };
    char name[96];
    long i;
    errno = 0;
    for (i = from; i < want && now_ns() < deadline; i++) {
        if (posix) {
            ctl_name(name, sizeof name, "o", i);
            mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
            if (q == (mqd_t)-1) return i;
            mq_close(q);
        } else {
            int id = msgget(SYSV_KEY_OTHERS + (key_t)i, IPC_CREAT | IPC_EXCL | 0600);
            if (id < 0) return i;
            if (ids) ids[i] = id;
        }
    }
    errno = 0;
    return i;
}

/* Make `want` other queues, for at most `seconds`.  The kernel's RLIMIT_MSGQUEUE is per
 * user (in every IPC namespace) and cannot be raised without CAP_SYS_RESOURCE: with
 * --other-users (kernel runs), and whenever POSIX creation fails with EMFILE, POSIX queues
 * are created by children that take other uids (200000 + k, each with a budget of its
 * own), so our own user's budget — shared with every other program of ours — is left
 * alone.  The queues are the same; only their owner differs. */
static long ctl_populate(int posix, long want, double seconds)
{
    uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
    long got = 0;
    if (!posix) ctl_other_ids = calloc((size_t)want + 1, sizeof *ctl_other_ids);
    if (posix && opt.other_users) errno = EMFILE;
    else got = ctl_create_from(posix, 0, want, deadline, ctl_other_ids);
    for (int k = 0; got < want && posix && errno == EMFILE && now_ns() < deadline; k++) {
        int p[2];
        if (pipe(p)) fail(1, "error", "pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0) fail(1, "error", "fork: %s", strerror(errno));
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            long reached = got;
            if (setgid(65534) == 0 && setuid((uid_t)(200000 + k)) == 0)
                reached = ctl_create_from(posix, got, want, deadline, NULL);
            int e = errno;
            long msg[2] = { reached, e };
            if (write(p[1], msg, sizeof msg) != (ssize_t)sizeof msg) _exit(3);
            _exit(0);
        }
        close(p[1]);
        long msg[2] = { got, EIO };
        if (read(p[0], msg, sizeof msg) != (ssize_t)sizeof msg) msg[1] = EIO;
        close(p[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        if (msg[0] == got && msg[1] != 0) { errno = (int)msg[1]; break; }  /* no progress */
        got = msg[0];
        errno = (int)msg[1];
    }
    ctl_stop = got == want ? "done" : errno ? strerrorname_np(errno) : "time";
    if (!ctl_stop) ctl_stop = "error";
    ctl_others = got;
    return got;
}

static void ctl_remove_others(void)
{
    char name[96];
    for (long i = 0; i < ctl_others; i++) {
        if (ctl_other_ids) msgctl(ctl_other_ids[i], IPC_RMID, NULL);
        else {
            ctl_name(name, sizeof name, "o", i);
            mq_unlink(name);
        }
    }
    ctl_others = 0;
}

static void ctl_cleanup(void)
{
    char name[96];
    if (ctl_target_made) {
        ctl_name(name, sizeof name, "t", 0);
        mq_unlink(name);
        ctl_target_made = 0;
    }
    for (int i = 0; i < ctl_cycle_made; i++) {
        ctl_name(name, sizeof name, "c", i);
        mq_unlink(name);
    }
    ctl_cycle_made = 0;
    if (ctl_target_id >= 0) {
        msgctl(ctl_target_id, IPC_RMID, NULL);
        ctl_target_id = -1;
    }
    if (!opt.keep) ctl_remove_others();
    for (long i = 0; i < mem_made; i++) {
        if (mem_ids) msgctl(mem_ids[i], IPC_RMID, NULL);
        else {
            ctl_name(name, sizeof name, "m", i);
            mq_unlink(name);
        }
    }
    mem_made = 0;
}

enum { CTL_MQ_OPEN_CLOSE, CTL_MQ_OPEN_CREAT_CLOSE, CTL_MQ_OPEN_CLOSE_CYCLE, CTL_MQ_FIRST_OPEN_CLOSE, CTL_MQ_CREATE_UNLINK,
       CTL_MSGGET_KEY, CTL_MSGGET_PRIVATE_RMID, CTL_MSGGET_EXCL_RMID, CTL_NOPS };
static const struct { const char *name; int posix; int calls; } ctl_ops[CTL_NOPS] = {
    [CTL_MQ_OPEN_CLOSE] = { "mq_open_close", 1, 2 },
    [CTL_MQ_OPEN_CREAT_CLOSE] = { "mq_open_creat_close", 1, 2 },
    [CTL_MQ_OPEN_CLOSE_CYCLE] = { "mq_open_close_cycle", 1, 2 },
    [CTL_MQ_FIRST_OPEN_CLOSE] = { "mq_first_open_close", 1, 2 },
    [CTL_MQ_CREATE_UNLINK] = { "mq_create_unlink", 1, 3 },
    [CTL_MSGGET_KEY] = { "msgget_key", 0, 1 },
    [CTL_MSGGET_PRIVATE_RMID] = { "msgget_private_rmid", 0, 2 },
    [CTL_MSGGET_EXCL_RMID] = { "msgget_excl_rmid", 0, 2 },
};

/* One timed batch of CTL_BATCH ops; returns ns per op.  `seq` numbers fresh names/keys. */
static double ctl_batch(int op, long *seq)
{
    struct mq_attr a = { .mq_maxmsg = CTL_MAXMSG, .mq_msgsize = CTL_MSGSIZE };
    char names[CTL_BATCH][96];
    if (op == CTL_MQ_CREATE_UNLINK)
        for (int i = 0; i < CTL_BATCH; i++) ctl_name(names[i], sizeof names[i], "f", (*seq)++);
    if (op == CTL_MQ_OPEN_CLOSE || op == CTL_MQ_OPEN_CREAT_CLOSE) {
        ctl_name(names[0], sizeof names[0], "t", 0);
        /* Opened lately, as the row says (the cycling row's batches in between open others). */
        mqd_t q = mq_open(names[0], O_RDWR);
        if (q != (mqd_t)-1) mq_close(q);
    }
    if (op == CTL_MQ_OPEN_CLOSE_CYCLE) {
        /* All 256 opened lately, as the row says (the first-open row's batches in between open
         * others), then 16 of them in turn. */
        for (int i = 0; i < CTL_CYCLE; i++) {
            ctl_name(names[0], sizeof names[0], "c", i);
            mqd_t q = mq_open(names[0], O_RDWR);
            if (q != (mqd_t)-1) mq_close(q);
        }
        for (int i = 0; i < CTL_BATCH; i++) ctl_name(names[i], sizeof names[i], "c", (*seq)++ % CTL_CYCLE);
    }
    if (op == CTL_MQ_FIRST_OPEN_CLOSE)
        for (int i = 0; i < CTL_BATCH; i++)
            ctl_name(names[i], sizeof names[i], "c", CTL_CYCLE + (*seq)++ % CTL_FIRST);
    uint64_t t0 = now_ns();
    for (int i = 0; i < CTL_BATCH; i++) {
        switch (op) {
        case CTL_MQ_OPEN_CLOSE:
        case CTL_MQ_OPEN_CLOSE_CYCLE:
        case CTL_MQ_FIRST_OPEN_CLOSE: {
            mqd_t q = mq_open(names[op == CTL_MQ_OPEN_CLOSE ? 0 : i], O_RDWR);
            if (q == (mqd_t)-1) fail(1, "error", "mq_open(existing): %s", strerror(errno));
            mq_close(q);
            break;
        }
        case CTL_MQ_OPEN_CREAT_CLOSE: {
            /* Open-or-create, as both sides of a queue often open it: the queue exists. */
            mqd_t q = mq_open(names[0], O_CREAT | O_RDWR, 0600, &a);
            if (q == (mqd_t)-1) fail(1, "error", "mq_open(existing, O_CREAT): %s", strerror(errno));
            mq_close(q);
            break;
        }
        case CTL_MQ_CREATE_UNLINK: {
            mqd_t q = mq_open(names[i], O_CREAT | O_EXCL | O_RDWR, 0600, &a);
            if (q == (mqd_t)-1) fail(1, "error", "mq_open(O_CREAT|O_EXCL): %s", strerror(errno));
            mq_close(q);
            if (mq_unlink(names[i]) != 0) fail(1, "error", "mq_unlink: %s", strerror(errno));
            break;
        }
        case CTL_MSGGET_KEY:
            if (msgget(SYSV_KEY_TARGET, 0600) != ctl_target_id)
                fail(1, "error", "msgget(existing key): %s", strerror(errno));
            break;
        case CTL_MSGGET_PRIVATE_RMID:
        case CTL_MSGGET_EXCL_RMID: {
            int id;
            if (op == CTL_MSGGET_PRIVATE_RMID) id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
            else   /* a key some other program holds is skipped: that costs one failed call */
                while ((id = msgget(SYSV_KEY_FRESH + (key_t)((*seq)++ % 0x100000),
                                    IPC_CREAT | IPC_EXCL | 0600)) < 0 && errno == EEXIST) {}
            if (id < 0) fail(1, "error", "msgget(create): %s", strerror(errno));
            if (msgctl(id, IPC_RMID, NULL) != 0) fail(1, "error", "IPC_RMID: %s", strerror(errno));
            break;
        }
        }
    }
    return (double)(now_ns() - t0) / CTL_BATCH;
}

/* Measure every op of the API at the current number of other queues: --count ops each
 * (rounded up to whole batches), batches of the ops interleaved so a slow phase of the
 * machine hits them alike, one warm-up batch each.  Prints a RESULT line per op. */
static void ctl_measure(int posix, long want, double setup_secs, double ref)
{
    long batches = (opt.count + CTL_BATCH - 1) / CTL_BATCH, seq = 0;
    double *b[CTL_NOPS] = {0};
    for (int op = 0; op < CTL_NOPS; op++)
        if (ctl_ops[op].posix == posix) {
            b[op] = calloc((size_t)batches, sizeof *b[op]);
            ctl_batch(op, &seq);
        }
    uint64_t t0 = now_ns();
    for (long k = 0; k < batches; k++)
        for (int op = 0; op < CTL_NOPS; op++)
            if (b[op]) b[op][k] = ctl_batch(op, &seq);
    double secs = (double)(now_ns() - t0) / 1e9;
    for (int op = 0; op < CTL_NOPS; op++) {
        if (!b[op]) continue;
        qsort(b[op], (size_t)batches, sizeof *b[op], cmp_double);
        printf("RESULT name=ctl_%s_%ld bench=control api=%s size=%d placement=same unit=ns/op "
               "value=%.0f calls=%d n=%ld secs=%.3f status=ok ref=%.1f min=%.0f fast=%.0f "
               "existing=%ld want=%ld setup_s=%.2f setup_stop=%s\n", ctl_ops[op].name, want,
               posix ? "posix" : "sysv", CTL_MSGSIZE, b[op][batches / 2], ctl_ops[op].calls,
               batches * CTL_BATCH, secs, ref, b[op][0], b[op][batches / 10], ctl_others, want,
               setup_secs, ctl_stop);
        free(b[op]);
    }
    fflush(stdout);
}

/* The first calls of a new process, what a short-lived program pays once: the benchmark is
 * started again (exec, so that a preloaded mqshim starts afresh, as in any new program), times
 * the calls of `op` alone and hands the ns back through a pipe (see first_call_child): `open`,
 * mq_open+mq_close of the target queue; `create`, mq_open(O_CREAT|O_EXCL)+mq_close+mq_unlink
 * of a fresh name; `msgget`, msgget(IPC_PRIVATE)+IPC_RMID.  Median of --count/4 processes (at
 * least 8); printed like the rows above, as ctl_<row>_<want>. */
static void ctl_process_first(const char *op, const char *row, int calls, long want, double setup_secs, double ref)
{
    long runs = opt.count / 4 > 8 ? opt.count / 4 : 8;
    double *v = calloc((size_t)runs, sizeof *v);
    char name[96], fd[16];
    uint64_t t0 = now_ns();
    for (long i = 0; i < runs; i++) {
        int p[2];
        if (!v || pipe(p) != 0) fail(1, "error", "pipe: %s", strerror(errno));
        snprintf(fd, sizeof fd, "%d", p[1]);
        if (strcmp(op, "create") == 0) ctl_name(name, sizeof name, "p", i);
        else ctl_name(name, sizeof name, "t", 0);
        pid_t pid = fork();
        if (pid < 0) fail(1, "error", "fork: %s", strerror(errno));
        if (pid == 0) {
            close(p[0]);
            execl("/proc/self/exe", "mqbench", "first-call-child", op, name, fd, (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        uint64_t ns = 0;
        ssize_t got = read(p[0], &ns, sizeof ns);
        close(p[0]);
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof ns)
            fail(1, "error", "first-call child (%s): status %d, %zd bytes", op, status, got);
        v[i] = (double)ns;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    qsort(v, (size_t)runs, sizeof *v, cmp_double);
    printf("RESULT name=ctl_%s_%ld bench=control api=%s size=%d placement=same "
           "unit=ns/op value=%.0f calls=%d n=%ld secs=%.3f status=ok ref=%.1f min=%.0f fast=%.0f "
           "existing=%ld want=%ld setup_s=%.2f setup_stop=%s\n", row, want, opt.api, CTL_MSGSIZE, v[runs / 2],
           calls, runs, secs, ref, v[0], v[runs / 10], ctl_others, want, setup_secs, ctl_stop);
    fflush(stdout);
    free(v);
}

/* The rows of ctl_process_first for the API measured. */
static void ctl_process_first_rows(int posix, long want, double setup_secs, double ref)
{
    if (posix) {
        ctl_process_first("open", "mq_process_first_open_close", 2, want, setup_secs, ref);
        ctl_process_first("create", "mq_process_first_create_unlink", 3, want, setup_secs, ref);
    } else {
        ctl_process_first("msgget", "msgget_process_first_private_rmid", 2, want, setup_secs, ref);
    }
}

/* `mqbench first-call-child OP NAME FD`: the new process of ctl_process_first. */
static int first_call_child(const char *op, const char *name, const char *fd)
{
    struct mq_attr a = { .mq_maxmsg = CTL_MAXMSG, .mq_msgsize = CTL_MSGSIZE };
    uint64_t t0 = now_ns();
    if (strcmp(op, "open") == 0 || strcmp(op, "create") == 0) {
        int create = strcmp(op, "create") == 0;
        mqd_t q = create ? mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a) : mq_open(name, O_RDWR);
        if (q == (mqd_t)-1) return 1;
        mq_close(q);
        if (create && mq_unlink(name) != 0) return 1;
    } else if (strcmp(op, "msgget") == 0) {
        int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (id < 0 || msgctl(id, IPC_RMID, NULL) != 0) return 1;
    } else {
        return 2;
    }
    uint64_t ns = now_ns() - t0;
    return write(atoi(fd), &ns, sizeof ns) == (ssize_t)sizeof ns ? 0 : 1;
}

static int control_main(double ref)
{
    int posix = strcmp(opt.api, "posix") == 0;
    char name[96];
    struct mq_attr a = { .mq_maxmsg = CTL_MAXMSG, .mq_msgsize = CTL_MSGSIZE };
    if (!opt.count) opt.count = 256;
    snprintf(ctl_prefix, sizeof ctl_prefix, "/mqbench-%d-", (int)getpid());
    if (pin(0) != 0) fail(1, "error", "sched_setaffinity: %s", strerror(errno));
    if (posix) {
        ctl_name(name, sizeof name, "t", 0);
        mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
        if (q == (mqd_t)-1) fail(1, "error", "mq_open(target): %s", strerror(errno));
        ctl_target_made = 1;
        mq_close(q);
        /* The cycling rows open these in turn: 256 of them, or 512 others, more queues than a
         * process keeps mapped after their last close, so that each open is a first one. */
        for (; ctl_cycle_made < CTL_CYCLE + CTL_FIRST; ctl_cycle_made++) {
            ctl_name(name, sizeof name, "c", ctl_cycle_made);
            q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
            if (q == (mqd_t)-1) fail(1, "error", "mq_open(cycled queue): %s", strerror(errno));
            mq_close(q);
        }
    } else {
        ctl_target_id = msgget(SYSV_KEY_TARGET, IPC_CREAT | IPC_EXCL | 0600);
        if (ctl_target_id < 0) fail(1, "error", "msgget(target): %s", strerror(errno));
    }
    ctl_measure(posix, 0, 0, ref);
    ctl_process_first_rows(posix, 0, 0, ref);
    if (opt.existing > 0) {
        uint64_t t0 = now_ns();
        long got = ctl_populate(posix, opt.existing, opt.setup_seconds);
        double setup = (double)(now_ns() - t0) / 1e9;
        fprintf(stderr, "mqbench: control %s: %ld of %ld other queues in %.1f s%s%s\n", opt.api,
                got, opt.existing, setup, got < opt.existing ? "; stopped by " : "",
                got < opt.existing ? (strcmp(ctl_stop, "time") ? ctl_stop : "--setup-seconds") : "");
        ctl_measure(posix, opt.existing, setup, ref);
        ctl_process_first_rows(posix, opt.existing, setup, ref);
    }
    ctl_cleanup();
    return 0;
}

/* ------------------------------------------------------------------ memory */

/* Bytes of tmpfs blocks under the emulation's namespace (MQSHIM_DIR): layout-agnostic. */
static uint64_t mem_tmpfs_total;
static int mem_tmpfs_add(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path; (void)type; (void)ftw;
    mem_tmpfs_total += (uint64_t)st->st_blocks * 512;
    return 0;
}
static double mem_tmpfs(void)
{
    const char *dir = getenv("MQSHIM_DIR");
    mem_tmpfs_total = 0;
    if (!dir || nftw(dir, mem_tmpfs_add, 16, FTW_PHYS) != 0) return 0;
    return (double)mem_tmpfs_total;
}

/* /proc/meminfo fields in bytes */
static double mem_info(const char *field)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    size_t len = strlen(field);
    double v = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') { v = strtod(line + len + 1, NULL) * 1024; break; }
    fclose(f);
    return v;
}

/* Slab caches (/proc/slabinfo, root only): name, active objects, object size. */
enum { MEM_CACHES = 512 };
struct mem_slab { int n; char name[MEM_CACHES][40]; long active[MEM_CACHES], size[MEM_CACHES]; };
static void mem_slab_read(struct mem_slab *s)
{
    FILE *f = fopen("/proc/slabinfo", "r");
    char line[512];
    s->n = 0;
    if (!f) return;
    while (s->n < MEM_CACHES && fgets(line, sizeof line, f))
        if (line[0] != '#' && strncmp(line, "slabinfo", 8) != 0 &&
            sscanf(line, "%39s %ld %*d %ld", s->name[s->n], &s->active[s->n], &s->size[s->n]) == 3)
            s->n++;
    fclose(f);
}

/* Bytes of the objects that `n` queues added: the caches whose active objects grew by at least
 * n/2 (objects made per queue; a cache other jobs use at random rarely grows that much), each
 * growth times the object size.  Describes them in `desc` ("cache:objects per queue,..."). */
static double mem_slab_grown(const struct mem_slab *a, const struct mem_slab *b, long n, char *desc,
                             size_t len)
{
    double bytes = 0;
    size_t used = 0;
    desc[0] = 0;
    for (int j = 0; j < b->n; j++) {
        long before = 0;
        for (int i = 0; i < a->n; i++)
            if (strcmp(a->name[i], b->name[j]) == 0) { before = a->active[i]; break; }
        long grown = b->active[j] - before;
        if (grown * 2 < n) continue;
        bytes += (double)grown * (double)b->size[j];
        if (used < len)
            used += (size_t)snprintf(desc + used, len - used, "%s%s:%.2f", used ? "," : "",
                                     b->name[j], (double)grown / (double)n);
    }
    return bytes;
}

/* What a queue holding one small message costs: POSIX maxmsg 10 x msgsize 8192, or SysV
 * with its default msg_qbytes.  --count queues (default 500) are made, each given one
 * 64-byte message, then removed; five rounds, medians.  tmpfs = st_blocks of every file
 * under MQSHIM_DIR, after minus before (the emulation's queues); slab, shmem = deltas of
 * /proc/meminfo's Slab and Shmem (kernel objects: the kernel's queues and messages, or the
 * emulation's inodes and dentries) — machine-wide, so other jobs add noise; objs = the same
 * kernel objects counted in /proc/slabinfo's caches that grew by at least one object per two
 * queues (much less noisy; `caches` names them, objects per queue).  value = tmpfs (or shmem
 * when no MQSHIM_DIR was walked) + objs (or slab when slabinfo is unreadable), per queue.  POSIX charge = what the
 * kernel charges to RLIMIT_MSGQUEUE for such a queue (ipc/mqueue.c: maxmsg x
 * (sizeof(struct msg_msg) 48 + msgsize) + min(maxmsg, MQ_PRIO_MAX) x sizeof(struct
 * posix_msg_tree_node) 48 on x86-64), whatever it holds. */
static int memory_main(double ref)
{
    int posix = strcmp(opt.api, "posix") == 0;
    long n = opt.count ? opt.count : 500;
    enum { ROUNDS = 5 };
    double tm[ROUNDS], sl[ROUNDS], sh[ROUNDS], ob[ROUNDS];
    static struct mem_slab slab_before, slab_after;
    char caches[512] = "";
    struct mq_attr a = { .mq_maxmsg = 10, .mq_msgsize = 8192 };
    char name[96], msg[64] = "memory";
    int *ids = calloc((size_t)n, sizeof *ids);
    if (!posix) mem_ids = ids;
    uint64_t t0 = now_ns();
    snprintf(ctl_prefix, sizeof ctl_prefix, "/mqbench-%d-", (int)getpid());
    if (pin(0) != 0) fail(1, "error", "sched_setaffinity: %s", strerror(errno));
    for (int r = 0; r < ROUNDS; r++) {
        usleep(100000);                 /* let RCU free what the last round removed */
        double t_before = mem_tmpfs(), s_before = mem_info("Slab"), h_before = mem_info("Shmem");
        mem_slab_read(&slab_before);
        long made = mem_made = 0;
        /* per-user RLIMIT_MSGQUEUE: see ctl_populate */
        for (int k = posix && opt.other_users; made < n; k++) {
            pid_t pid = posix && k > 0 ? fork() : 0;
            if (pid < 0) fail(1, "error", "fork: %s", strerror(errno));
            if (pid > 0) {
                int st;
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
                long before = made;
                for (made = before; made < n; made++) {   /* how far the child got */
                    ctl_name(name, sizeof name, "m", made);
                    mqd_t q = mq_open(name, O_RDONLY);
                    if (q == (mqd_t)-1) break;
                    mq_close(q);
                }
                mem_made = made;
                if (made == before) fail(1, "error", "memory: creating queue %ld failed", made + 1);
                continue;
            }
            /* from here on, k > 0 is a child: an error ends it, and the parent sees that
             * it made nothing */
            if (k > 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL), setgid(65534) != 0 ||
                          setuid((uid_t)(200000 + k)) != 0)) _exit(1);
            for (; made < n; made++) {
                const char *what = NULL;
                if (posix) {
                    ctl_name(name, sizeof name, "m", made);
                    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
                    if (q == (mqd_t)-1 && errno == EMFILE) break;
                    if (q == (mqd_t)-1) what = "mq_open(10x8192)";
                    else if (mq_send(q, msg, sizeof msg, 0) != 0) what = "mq_send";
                    if (q != (mqd_t)-1) mq_close(q);
                } else {
                    struct { long t; char x[64]; } m = { 1, "memory" };
                    ids[made] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
                    if (ids[made] < 0) what = "msgget";
                    else if (msgsnd(ids[made], &m, sizeof m.x, 0) != 0) what = "msgsnd";
                }
                if (what && k > 0) _exit(1);
                if (what) fail(1, "error", "memory: %s: %s", what, strerror(errno));
                if (k == 0) mem_made = made + 1;
            }
            if (k > 0) _exit(0);
            if (made < n && !posix) break;
        }
        usleep(100000);                 /* and what the helper children left */
        tm[r] = (mem_tmpfs() - t_before) / (double)n;
        sl[r] = (mem_info("Slab") - s_before) / (double)n;
        sh[r] = (mem_info("Shmem") - h_before) / (double)n;
        mem_slab_read(&slab_after);
        ob[r] = mem_slab_grown(&slab_before, &slab_after, n, caches, sizeof caches) / (double)n;
        mem_made = n;
        ctl_cleanup();
    }
    qsort(tm, ROUNDS, sizeof *tm, cmp_double);
    qsort(sl, ROUNDS, sizeof *sl, cmp_double);
    qsort(sh, ROUNDS, sizeof *sh, cmp_double);
    qsort(ob, ROUNDS, sizeof *ob, cmp_double);
    int have_objs = slab_after.n > 0;
    int walked = getenv("MQSHIM_DIR") != NULL;
    double value = (walked ? tm[ROUNDS / 2] : sh[ROUNDS / 2]) + (have_objs ? ob[ROUNDS / 2] : sl[ROUNDS / 2]);
    double charge = posix ? 10.0 * (48 + 8192) + 10.0 * 48 : 0;
    printf("RESULT name=mem_%s bench=memory api=%s size=64 placement=same unit=KiB/queue "
           "value=%.2f n=%ld secs=%.3f status=ok ref=%.1f tmpfs=%.2f slab=%.2f shmem=%.2f "
           "slab_min=%.2f slab_max=%.2f objs=%.2f objs_min=%.2f objs_max=%.2f charge=%.2f walked=%d "
           "caches=%s\n",
           posix ? "posix_10x8192" : "sysv", opt.api, value / 1024, n,
           (double)(now_ns() - t0) / 1e9, ref, tm[ROUNDS / 2] / 1024, sl[ROUNDS / 2] / 1024,
           sh[ROUNDS / 2] / 1024,
           sl[0] / 1024, sl[ROUNDS - 1] / 1024, ob[ROUNDS / 2] / 1024, ob[0] / 1024,
           ob[ROUNDS - 1] / 1024, charge / 1024, walked, caches[0] ? caches : "-");
    mem_ids = NULL;
    free(ids);
    return 0;
}

/* ------------------------------------------------------------------ probe */

/* Whether the kernel holds System V queue `id` with `qnum` messages last sent by us (or by our
 * parent, when it is the `mqshim run` supervisor that makes a static program's calls): its
 * /proc/sysvipc/msg, read with raw system calls (no preload serves them; MQSHIM_SYSCALLS=trap
 * traps only the queue calls themselves). */
static int kernel_holds_msq(int id, unsigned long qnum)
{
    char text[1 << 16];
    long fd = syscall(SYS_openat, AT_FDCWD, "/proc/sysvipc/msg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    size_t len = 0;
    long n;
    while (len < sizeof text - 1 && (n = syscall(SYS_read, (int)fd, text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)n;
    syscall(SYS_close, (int)fd);
    text[len] = '\0';
    for (char *line = strchr(text, '\n'); line && *++line; line = strchr(line, '\n')) {
        long key, msqid, lspid;
        unsigned perms;
        unsigned long cbytes, msgs;
        if (sscanf(line, "%ld %ld %o %lu %lu %ld", &key, &msqid, &perms, &cbytes, &msgs, &lspid) == 6 &&
            msqid == id && msgs == qnum && (lspid == getpid() || lspid == getppid()))
            return 1;
    }
    return 0;
}

/* Say which implementation serves each API, from what the kernel itself says about what the
 * library handed out: the file system of the POSIX descriptor (raw fstatfs: the mqueue file
 * system's magic) and the kernel's list of System V queues (a raw queue call cannot tell, as
 * MQSHIM_SYSCALLS=trap serves it too). */
static int probe(void)
{
    char name[64];
    struct mq_attr a = { .mq_maxmsg = 10, .mq_msgsize = 64 };
    char buf[64] = "probe";
    const char *posix = "fail", *sysv = "fail", *deep = "no";
    snprintf(name, sizeof name, "/mqbench-probe-%d", (int)getpid());
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
    if (q != (mqd_t)-1) {
        if (mq_send(q, buf, 8, 3) == 0) {
            struct statfs fs;
            if (syscall(SYS_fstatfs, (int)q, &fs) == 0 && fs.f_type == 0x19800202 /* MQUEUE_MAGIC */)
                posix = "kernel";
            else
                posix = "emulated";
            unsigned pr = 0;
            if (mq_receive(q, buf, sizeof buf, &pr) != 8 || pr != 3) posix = "fail";
        }
        mq_close(q);
        mq_unlink(name);
    }
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (id >= 0) {
        struct { long t; char x[8]; } msg = { 7, "probe" };
        if (msgsnd(id, &msg, 8, 0) == 0) {
            if (kernel_holds_msq(id, 1))
                sysv = "kernel";
            else
                sysv = "emulated";
            if (msgrcv(id, &msg, 8, 7, IPC_NOWAIT) != 8) sysv = "fail";
        }
        msgctl(id, IPC_RMID, NULL);
    }
    struct mq_attr big = { .mq_maxmsg = opt.maxmsg > 10 ? opt.maxmsg : 65536, .mq_msgsize = 64 };
    q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &big);
    if (q != (mqd_t)-1) {
        deep = "yes";
        mq_close(q);
        mq_unlink(name);
    }
    const char *from[2] = { "?", "?" };
    const char *sym[2] = { "mq_send", "msgsnd" };
    for (int i = 0; i < 2; i++) {
        Dl_info info;
        void *p = dlsym(RTLD_DEFAULT, sym[i]);
        if (p && dladdr(p, &info) && info.dli_fname) {
            const char *s = strrchr(info.dli_fname, '/');
            from[i] = s ? s + 1 : info.dli_fname;
        }
    }
    printf("PROBE posix=%s sysv=%s deep=%s mq_send_from=%s msgsnd_from=%s\n",
           posix, sysv, deep, from[0], from[1]);
    return strcmp(posix, "fail") == 0 || strcmp(sysv, "fail") == 0;
}

/* ------------------------------------------------------------------ parent */

static const char *result_name(void)
{
    static char buf[128];
    if (opt.name) return opt.name;
    if (!opt.bench) return "none";
    if (strcmp(opt.bench, "micro") == 0) {
        snprintf(buf, sizeof buf, "micro_%s", opt.op ? opt.op : "?");
        return buf;
    }
    if (strcmp(opt.bench, "control") == 0 || strcmp(opt.bench, "memory") == 0) {
        snprintf(buf, sizeof buf, "%s_%s", opt.bench[0] == 'c' ? "ctl" : "mem", opt.api);
        return buf;
    }
    int n = snprintf(buf, sizeof buf, "%s_%s_%zu", opt.api,
                     strcmp(opt.bench, "stream") == 0 && opt.fill_first ? "deep" : opt.bench,
                     opt.size);
    if (opt.maxmsg != 10) n += snprintf(buf + n, sizeof buf - n, "_q%ld", opt.maxmsg);
    if (opt.random_prio) snprintf(buf + n, sizeof buf - n, "_rprio");
    return buf;
}

static void create_queues(int nposix, int sysv)
{
    static int counter;
    for (int i = 0; i < nposix; i++) {
        struct mq_attr a = { .mq_maxmsg = opt.maxmsg, .mq_msgsize = (long)opt.size };
        snprintf(qname[i], sizeof qname[i], "/mqbench-%d-%d-%d", (int)getpid(), counter++, i);
        mqd_t q = mq_open(qname[i], O_CREAT | O_EXCL | O_RDWR, 0600, &a);
        if (q == (mqd_t)-1) {
            int e = errno;
            fail(e == EINVAL || e == EMFILE || e == ENOMEM ? 4 : 1,
                 e == EINVAL ? "unsupported" : "error", "mq_open(maxmsg=%ld,msgsize=%zu): %s",
                 opt.maxmsg, opt.size, strerror(e));
        }
        qcreated[i] = 1;
        mq_close(q);
    }
    if (sysv) {
        sysv_id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (sysv_id < 0) fail(1, "error", "msgget: %s", strerror(errno));
        /* The same capacity on both sides: the kernel's default msgmnb unless --maxmsg says
         * otherwise (the emulation's configured msgmnb is raised for the deep rows only). */
        if (strcmp(opt.bench, "stream") == 0) {
            struct msqid_ds ds;
            if (msgctl(sysv_id, IPC_STAT, &ds) != 0)
                fail(1, "error", "msgctl(IPC_STAT): %s", strerror(errno));
            ds.msg_qbytes = opt.maxmsg != 10 ? (msglen_t)opt.maxmsg * opt.size : SYSV_STREAM_QBYTES;
            if (msgctl(sysv_id, IPC_SET, &ds) != 0)
                fail(4, "unsupported", "msgctl(IPC_SET,qbytes=%lu): %s",
                     (unsigned long)ds.msg_qbytes, strerror(errno));
        }
    }
}

/* A speed reference for this moment: median ns of a raw getppid() (no preload can
 * intercept it) over 16 batches, ~2 ms.  On a VM the host's state moves every figure
 * by tens of percent from one second to the next; `ref` shows which state a run met. */
static double speed_ref(void)
{
    double b[16];
    for (int k = 0; k < 16; k++) {
        uint64_t t = now_ns();
        for (int i = 0; i < 512; i++) syscall(SYS_getppid);
        b[k] = (double)(now_ns() - t) / 512;
    }
    for (int i = 1; i < 16; i++)
        for (int j = i; j > 0 && b[j - 1] > b[j]; j--) { double x = b[j]; b[j] = b[j - 1]; b[j - 1] = x; }
    return (b[7] + b[8]) / 2;
}

typedef void (*child_fn)(struct child_ctx *);

static int run_children(child_fn f0, child_fn f1, struct report rep[2])
{
    int nk = f1 ? 2 : 1;
    int ready[2], go[2], repp[2][2], tok01[2], tok10[2];
    if (pipe(ready) || pipe(go) || pipe(repp[0]) || pipe(repp[1]) || pipe(tok01) || pipe(tok10))
        fail(1, "error", "pipe: %s", strerror(errno));
    pid_t parent = getpid();
    fflush(stdout);
    for (int k = 0; k < nk; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            on_signal(0);
            fail(1, "error", "fork: %s", strerror(errno));
        }
        if (pid == 0) {
            struct child_ctx c = {
                .role = k, .ready_w = ready[1], .go_r = go[0], .rep_w = repp[k][1],
                .tok_r = k == 0 ? tok10[0] : tok01[0], .tok_w = k == 0 ? tok01[1] : tok10[1],
                .parent = parent,
            };
            struct report r = {0};
            signal(SIGALRM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(9);
            alarm((unsigned)opt.timeout + 5);
            if (pin(k) != 0) child_fail(&c, &r, "sched_setaffinity: %s", strerror(errno));
            (k == 0 ? f0 : f1)(&c);
            _exit(0);
        }
        kids[k] = pid;
        nkids = k + 1;
    }
    close(ready[1]);
    close(go[0]);
    close(repp[0][1]);
    close(repp[1][1]);
    close(tok01[0]); close(tok01[1]); close(tok10[0]); close(tok10[1]);

    /* barrier: wait until every child is set up, then release them together */
    int failed = 0;
    for (int k = 0; k < nk; k++) {
        char b;
        ssize_t got = read(ready[0], &b, 1);
        if (got != 1) { failed = 1; break; }      /* a child died or the alarm fired */
    }
    if (!failed) {
        char gob[2] = { 'g', 'g' };
        if (write(go[1], gob, (size_t)nk) != nk) failed = 1;
    }
    close(go[1]);
    close(ready[0]);

    /* reap; the alarm handler SIGKILLs the children, so this always returns */
    int bad_exit = 0;
    for (int k = 0; k < nk; k++) {
        int st;
        while (waitpid(kids[k], &st, 0) < 0) {
            if (errno != EINTR) { st = -1; break; }
        }
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad_exit = 1;
        if (st != -1 && WIFSIGNALED(st) && !stop_signal)
            fprintf(stderr, "mqbench: child %d killed by signal %d\n", k, WTERMSIG(st));
        kids[k] = 0;
    }
    nkids = 0;
    for (int k = 0; k < nk; k++) {
        memset(&rep[k], 0, sizeof rep[k]);
        ssize_t got = read(repp[k][0], &rep[k], sizeof rep[k]);
        if (got != (ssize_t)sizeof rep[k]) {
            rep[k].ok = 0;
            snprintf(rep[k].msg, sizeof rep[k].msg, "child %d died without a report", k);
        }
        close(repp[k][0]);
    }
    if (stop_signal)
        fail(3, "timeout", "%s after %.0fs", stop_signal == SIGALRM ? "alarm" : "signal",
             opt.timeout);
    for (int k = 0; k < nk; k++)
        if (!rep[k].ok) fail(1, "error", "%s", rep[k].msg);
    if (bad_exit) fail(1, "error", "child exited abnormally");
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: mqbench <stream|pingpong|micro|control|memory|probe> [options]\n"
"  stream    producer and consumer processes; msg/s        (calls on critical path:\n"
"            2 for --placement same, else 1)\n"
"  pingpong  two processes, request/response; ns per round trip (4 calls)\n"
"  micro     one process; ns per call (--op, ops below; *_sendrecv: ns per pair)\n"
"  control   one process; ns per op of the control path (open/close, create/remove)\n"
"            of --api, at 0 and at --existing other queues (RESULT line per op)\n"
"  memory    KiB a queue holding one message costs (POSIX 10 x 8192; SysV)\n"
"  probe     print which implementation serves each API (kernel|emulated) and\n"
"            whether a deep queue (--maxmsg, default 65536) can be created\n"
"options:\n"
"  --api posix|sysv          (default posix; micro derives it from --op)\n"
"  --size BYTES              message size (default 64; >= 8 for stream/pingpong)\n"
"  --placement cross|same|unpinned   cross: role 0 on CPU A, role 1 on CPU B;\n"
"                            same: both on CPU A; (A,B = first two allowed CPUs)\n"
"  --seconds S               timed duration (default 0.5); warm-up is extra\n"
"  --count N                 fixed work instead: messages / round trips / calls\n"
"  --warmup N                warm-up messages or round trips (default: 1000\n"
"                            messages / 20000 round trips, at most 5%% of --seconds)\n"
"  --maxmsg N                posix: mq_maxmsg (default 10); sysv stream:\n"
"                            msg_qbytes = N*size via IPC_SET (default 16384,\n"
"                            the kernel's stock msgmnb, on both sides)\n"
"  --random-prio             stream: random priorities (sysv: random types,\n"
"                            received lowest type first)\n"
"  --fill-first              stream: producer fills --count messages (default\n"
"                            maxmsg), then the consumer drains them, in rounds;\n"
"                            checks priority order (\"deep queue\")\n"
"  --op OP                   micro op: mq_eagain mq_getattr mq_sendrecv msg_enomsg\n"
"                            (and *_raw: mq_getattr_raw mq_sendrecv_raw msg_sendrecv_raw,\n"
"                            the calls made with syscall(2))\n"
"                            msg_ipcstat msg_sendrecv getppid (raw syscall)\n"
"                            mq_fstat (fstat of the queue descriptor)\n"
"  --name NAME               result name override\n"
"  --existing N              control: other queues of the API to create (maxmsg 1,\n"
"                            msgsize 16), then measure again\n"
"  --setup-seconds S         control: stop creating them after S s (default 20)\n"
"  --keep                    control: leave them (the namespace is thrown away)\n"
"  --count N                 control: ops per row (default 256); memory: queues (500)\n"
"  --timeout S               kill everything after S seconds (default auto)\n"
"  -v                        stream: print the distribution of 512-message windows\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
    if (strcmp(argv[1], "first-call-child") == 0) return argc == 5 ? first_call_child(argv[2], argv[3], argv[4]) : 2;
    opt.bench = argv[1];
    if (strcmp(opt.bench, "--help") == 0 || strcmp(opt.bench, "-h") == 0) { usage(stdout); return 0; }
    int placement_given = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(s) (strcmp(a, s) == 0 && (v || (fprintf(stderr, "%s needs a value\n", a), exit(2), 0)) && ++i)
        if (ARG("--api")) opt.api = v;
        else if (ARG("--size")) opt.size = strtoul(v, NULL, 0);
        else if (ARG("--placement")) { opt.placement = v; placement_given = 1; }
        else if (ARG("--seconds")) opt.seconds = strtod(v, NULL);
        else if (ARG("--count")) opt.count = strtol(v, NULL, 0);
        else if (ARG("--warmup")) opt.warmup = strtol(v, NULL, 0);
        else if (ARG("--maxmsg")) opt.maxmsg = strtol(v, NULL, 0);
        else if (ARG("--op")) opt.op = v;
        else if (ARG("--name")) opt.name = v;
        else if (ARG("--timeout")) opt.timeout = strtod(v, NULL);
        else if (ARG("--existing")) opt.existing = strtol(v, NULL, 0);
        else if (ARG("--setup-seconds")) opt.setup_seconds = strtod(v, NULL);
        else if (strcmp(a, "--keep") == 0) opt.keep = 1;
        else if (strcmp(a, "--other-users") == 0) opt.other_users = 1;
        else if (strcmp(a, "--random-prio") == 0) opt.random_prio = 1;
        else if (strcmp(a, "--fill-first") == 0) opt.fill_first = 1;
        else if (strcmp(a, "-v") == 0) opt.verbose = 1;
        else if (strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        else { fprintf(stderr, "mqbench: unknown argument %s\n", a); usage(stderr); return 2; }
#undef ARG
    }
    if (strcmp(opt.bench, "probe") == 0) return probe();

    if (strcmp(opt.placement, "cross") && strcmp(opt.placement, "same") &&
        strcmp(opt.placement, "unpinned")) {
        fprintf(stderr, "mqbench: bad --placement %s\n", opt.placement);
        return 2;
    }
    if (strcmp(opt.api, "posix") && strcmp(opt.api, "sysv")) {
        fprintf(stderr, "mqbench: bad --api %s\n", opt.api);
        return 2;
    }
    if (opt.size < 8 || opt.size > MAX_SIZE) {
        fprintf(stderr, "mqbench: --size must be in [8, %u]\n", MAX_SIZE);
        return 2;
    }
    if (opt.seconds <= 0 && !opt.count) opt.seconds = 0.5;
    if (opt.fill_first && !opt.count) opt.count = opt.maxmsg;
    if (opt.fill_first && opt.count > opt.maxmsg && !strcmp(opt.api, "posix")) {
        fprintf(stderr, "mqbench: --fill-first needs --count <= --maxmsg\n");
        return 2;
    }
    int ctl = strcmp(opt.bench, "control") == 0 || strcmp(opt.bench, "memory") == 0;
    if (ctl && !placement_given) opt.placement = "same";
    if (opt.timeout <= 0 && ctl) opt.timeout = 120 + 2 * opt.setup_seconds;
    if (opt.timeout <= 0)
        opt.timeout = opt.count && !opt.fill_first ? 120 : 10 + 4 * opt.seconds;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;              /* no SA_RESTART: blocking calls see EINTR */
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    alarm((unsigned)opt.timeout);
    choose_cpus();
    if (strcmp(opt.placement, "cross") == 0 && cpu_a == cpu_b)
        fail(4, "unsupported", "cross placement needs two CPUs");

    double ref = speed_ref();
    if (strcmp(opt.bench, "control") == 0) return control_main(ref);
    if (strcmp(opt.bench, "memory") == 0) return memory_main(ref);
    struct report rep[2];
    const char *unit;
    double value, secs;
    int calls;
    char extra[256] = "";
    uint64_t n;
    int posix = strcmp(opt.api, "posix") == 0;

    if (strcmp(opt.bench, "stream") == 0) {
        create_queues(posix ? 1 : 0, !posix);
        run_children(stream_producer, stream_consumer, rep);
        unit = "msg/s";
        calls = strcmp(opt.placement, "same") == 0 ? 2 : 1;
        if (opt.fill_first) {
            /* a message costs its send (fill phase) plus its receive (drain phase) */
            n = rep[1].n;
            secs = (double)(rep[0].ns + rep[1].ns) / 1e9;
            value = (double)n / secs;
            calls = 2;
            snprintf(extra, sizeof extra, " send_rate=%.0f recv_rate=%.0f rounds=%.0f",
                     (double)rep[0].n / ((double)rep[0].ns / 1e9),
                     (double)rep[1].n / ((double)rep[1].ns / 1e9),
                     (double)rep[1].n / (double)opt.count);
        } else {
            n = rep[1].n;
            secs = (double)rep[1].ns / 1e9;
            value = (double)n / secs;
            snprintf(extra, sizeof extra, " sent=%" PRIu64 " win_median=%.0f fast=%.0f",
                     rep[0].n, rep[1].v[0], rep[1].v[1]);
        }
    } else if (strcmp(opt.bench, "pingpong") == 0) {
        if (opt.maxmsg != 10 || opt.random_prio || opt.fill_first) {
            fprintf(stderr, "mqbench: pingpong takes no --maxmsg/--random-prio/--fill-first\n");
            return 2;
        }
        create_queues(posix ? 2 : 0, !posix);
        run_children(pp_initiator, pp_echoer, rep);
        unit = "ns/rt";
        calls = 4;
        n = rep[0].n;
        secs = (double)rep[0].ns / 1e9;
        value = rep[0].v[0];
        snprintf(extra, sizeof extra, " mean=%.1f min=%.0f fast=%.0f p90=%.0f p99=%.0f",
                 (double)rep[0].ns / (double)n, rep[0].v[1], rep[0].v[2], rep[0].v[3],
                 rep[0].v[4]);
    } else if (strcmp(opt.bench, "micro") == 0) {
        if (!opt.op) { fprintf(stderr, "mqbench: micro needs --op\n"); return 2; }
        int known = 0;
        for (int i = 0; micro_ops[i]; i++) known |= strcmp(opt.op, micro_ops[i]) == 0;
        if (!known) { fprintf(stderr, "mqbench: unknown --op %s\n", opt.op); return 2; }
        opt.api = micro_posix(opt.op) ? "posix" : micro_sysv(opt.op) ? "sysv" : "none";
        if (!placement_given) opt.placement = "same";
        create_queues(micro_posix(opt.op) ? 1 : 0, micro_sysv(opt.op));
        if (micro_raw(opt.op)) {
            struct mq_attr a;
            struct msqid_ds ds;
            mqd_t q = micro_posix(opt.op) ? mq_open(qname[0], O_RDWR) : (mqd_t)-1;
            long probe = micro_posix(opt.op) ? syscall(SYS_mq_getsetattr, q, NULL, &a)
                                             : syscall(SYS_msgctl, sysv_id, IPC_STAT, &ds);
            int e = errno;
            if (q != (mqd_t)-1) mq_close(q);
            if (probe != 0)
                fail(4, "unsupported", "raw %s: %s (a preloaded mqshim needs MQSHIM_SYSCALLS=trap)",
                     micro_posix(opt.op) ? "mq_getsetattr" : "msgctl", strerror(e));
        }
        run_children(micro_child, NULL, rep);
        calls = micro_calls(opt.op);
        unit = calls == 2 ? "ns/pair" : "ns/call";
        n = rep[0].n;
        secs = (double)rep[0].ns / 1e9;
        value = rep[0].v[0];
        snprintf(extra, sizeof extra, " mean=%.2f min=%.2f fast=%.2f",
                 (double)rep[0].ns / (double)n, rep[0].v[1], rep[0].v[2]);
    } else {
        fprintf(stderr, "mqbench: unknown benchmark %s\n", opt.bench);
        usage(stderr);
        return 2;
    }
    cleanup();
    alarm(0);
    printf("RESULT name=%s bench=%s api=%s size=%zu placement=%s unit=%s value=%.*f calls=%d "
           "n=%" PRIu64 " secs=%.3f status=ok ref=%.1f%s\n", result_name(), opt.bench, opt.api,
           opt.size, opt.placement, unit, value < 1000 ? 2 : 0, value, calls, n, secs, ref, extra);
    return 0;
}
