/*
 * mqbench — message-queue benchmarks for mqshim (POSIX mq_* and SysV msg*).
 *
 * Build:  cc -O2 -Wall -Wextra -pthread -o mqbench bench/mqbench.c -lrt
 * Usage:  mqbench <stream|pingpong|micro|probe> [options]   (mqbench --help)
 *
 * Every sub-benchmark prints exactly one line on stdout:
 *   RESULT name=<name> bench=<kind> api=<posix|sysv> size=<B> placement=<p> unit=<u>
 *          value=<v> calls=<c> n=<ops> secs=<s> status=ok [extra fields]
 * `value` is the headline figure (msg/s for streaming, median ns per op for the
 * others); `calls` is the number of intercepted calls on the critical path of one
 * op, so a per-call overhead is delta(ns per op) / calls.  On failure the line has
 * status=error|unsupported|timeout, value=nan and reason=<text>, and the exit code is
 * non-zero (4 for unsupported, e.g. maxmsg above the kernel's limit).
 *
 * All work happens in forked children pinned according to --placement; the parent
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
} opt = {
    .api = "posix", .placement = "cross", .size = 64, .maxmsg = 10,
    .seconds = 0.5, .warmup = -1,
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

static void cleanup(void)
{
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
    "getppid", NULL,
};

static int micro_calls(const char *op) { return strstr(op, "sendrecv") ? 2 : 1; }
static int micro_posix(const char *op) { return strncmp(op, "mq_", 3) == 0; }
static int micro_sysv(const char *op) { return strncmp(op, "msg_", 4) == 0; }

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

/* ------------------------------------------------------------------ probe */

/* Say which implementation serves each API: a raw syscall (which no preload can
 * intercept) looks at what the library handed out. */
static int probe(void)
{
    char name[64];
    struct mq_attr a = { .mq_maxmsg = 10, .mq_msgsize = 64 }, ka;
    char buf[64] = "probe";
    const char *posix = "fail", *sysv = "fail", *deep = "no";
    snprintf(name, sizeof name, "/mqbench-probe-%d", (int)getpid());
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
    if (q != (mqd_t)-1) {
        if (mq_send(q, buf, 8, 3) == 0) {
            memset(&ka, 0, sizeof ka);
            if (syscall(SYS_mq_getsetattr, (int)q, NULL, &ka) == 0 && ka.mq_curmsgs == 1 &&
                ka.mq_msgsize == 64)
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
            struct msqid_ds ds;
            memset(&ds, 0, sizeof ds);
            if (syscall(SYS_msgctl, id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 1 &&
                ds.msg_lspid == getpid())
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
"usage: mqbench <stream|pingpong|micro|probe> [options]\n"
"  stream    producer and consumer processes; msg/s        (calls on critical path:\n"
"            2 for --placement same, else 1)\n"
"  pingpong  two processes, request/response; ns per round trip (4 calls)\n"
"  micro     one process; ns per call (--op, ops below; *_sendrecv: ns per pair)\n"
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
"                            msg_ipcstat msg_sendrecv getppid (raw syscall)\n"
"  --name NAME               result name override\n"
"  --timeout S               kill everything after S seconds (default auto)\n"
"  -v                        stream: print the distribution of 512-message windows\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
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
