/* mqt_stress.h — the bookkeeping the stress tests share, so that each test holds only its queue
 * calls (POSIX or System V) and what it checks of them.
 *
 *   - run length: stress_seconds() reads MQT_STRESS_SECONDS (default 1; `make stress` runs
 *     long), stress_now_ns() is the monotonic clock the runs are timed by;
 *   - message contents: every message carries its ids, a payload of varying length derived
 *     from them and a checksum over both (stress_mix, stress_fill_payload, stress_checksum),
 *     so a receiver can tell an intact message from a torn or mixed-up one;
 *   - soak_run(): the soak tests' rounds (*_soak_stress_many_producers_consumers.c):
 *     SOAK_NPROD producer and SOAK_NCONS consumer processes, started and stopped by words on
 *     pipes; each round every producer sends SOAK_PER_ROUND messages and the last one to finish
 *     sends one end marker per consumer; consumers report every message through a pipe of their
 *     own, and the parent's ledger checks each round: exactly once, intact and of the class
 *     (priority or type) it was sent with, FIFO per producer within a class at every consumer,
 *     one marker per consumer, the queue empty. soak_verdicts() prints the verdicts;
 *   - kill9_run(): the kill -9 tests' loop (*_kill9_stress.c): KILL9_NSEND senders and
 *     KILL9_NRECV receivers, one of which the parent SIGKILLs at a random moment and replaces,
 *     over and over; receivers log each message to a pipe as soon as they have it, and the
 *     parent's ledger (kill9_note) counts duplicates and corrupt messages. kill9_verdicts()
 *     prints them.
 *
 * A test supplies its queue calls as a struct of functions (struct soak_queue, struct
 * kill9_queue) over a queue it keeps in a static variable, created before the run. The calls
 * are made in the test's file, so harness.h counts them as usual.
 *
 * Define STRESS_MAXPAYLOAD (the longest payload a message carries) before including; include
 * after harness.h. */
#ifndef MQT_STRESS_H
#define MQT_STRESS_H

#include <poll.h>
#include <sys/mman.h>

#ifndef STRESS_MAXPAYLOAD
#error "define STRESS_MAXPAYLOAD (the longest payload) before including mqt_stress.h"
#endif

/* ------------------------------------------------------------------------------------------ */
/* run length                                                                                 */

static double stress_seconds(void)
{
    const char *s = getenv("MQT_STRESS_SECONDS");
    double v = s ? strtod(s, NULL) : 0;
    return v > 0 ? v : 1.0;
}

static long long stress_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* message contents                                                                           */

/* FNV-1a over the bytes of `n` words (low byte first). */
static uint32_t stress_mix(int n, const uint32_t *v)
{
    uint32_t h = 2166136261u;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < 4; i++)
            h = (h ^ ((v[k] >> (8 * i)) & 0xff)) * 16777619u;
    return h;
}

/* Fills `payload` with the bytes `h` (a stress_mix of the message's ids) derives; returns their
 * count, 0 to STRESS_MAXPAYLOAD. */
static uint32_t stress_fill_payload(unsigned char *payload, uint32_t h)
{
    uint32_t len = h % (STRESS_MAXPAYLOAD + 1);
    for (uint32_t i = 0; i < len; i++) {
        h = h * 1103515245u + 12345u;
        payload[i] = (unsigned char)(h >> 16);
    }
    return len;
}

/* The checksum of a message whose ids mix to `h`, over its length and payload. */
static uint32_t stress_checksum(uint32_t h, uint32_t len, const unsigned char *payload)
{
    h ^= len * 2654435761u;
    for (uint32_t i = 0; i < len && i < STRESS_MAXPAYLOAD; i++)
        h = (h ^ payload[i]) * 16777619u;
    return h;
}

/* ------------------------------------------------------------------------------------------ */
/* soak: rounds of producers and consumers                                                    */

#define SOAK_NPROD 4
#define SOAK_NCONS 4
#define SOAK_PER_ROUND 500          /* messages per producer per round */
#define SOAK_HDR 20                 /* the five ids ahead of the payload */
#define SOAK_MARKER 0xFFFFFFFFu     /* producer id of an end marker */
#define SOAK_BATCH 256              /* records a consumer buffers before writing them */
#define SOAK_MAX_CLASSES 4

/* A soak message's bytes (a System V test sends them after its mtype). */
struct soak_msg {
    uint32_t producer, round, seq, len, sum;
    unsigned char payload[STRESS_MAXPAYLOAD];
};

/* What a soak test supplies. A message's class is its priority (POSIX) or type (System V). */
struct soak_queue {
    /* Sends `m` (SOAK_HDR + m->len bytes) with class `cls`, blocking while the queue is full;
     * `seq` is its number in the round (0 for an end marker). 0, or -1 with errno. */
    int (*send)(const struct soak_msg *m, long cls, uint32_t seq);
    /* Consumer `consumer`'s `i`-th receive of the round into `m`, blocking while there is
     * nothing for it; the class received goes to *cls. The byte count, or -1 with errno. */
    long (*receive)(int consumer, unsigned i, struct soak_msg *m, long *cls);
    /* Whether the queue is empty (checked after every round). */
    int (*is_empty)(void);
    /* The classes of the mixed rounds; the others send every message with classes[0]. */
    const long *classes;
    int nclasses;
    /* The class of an end marker (not one of `classes`). */
    long marker_class;
};

/* What a consumer reports per message; producer == SOAK_MARKER ends its round. */
struct soak_rec {
    uint32_t producer, seq;
    uint32_t cls;
    uint32_t ok;
};

/* The figures soak_verdicts() judges, summed over the rounds. */
struct soak_totals {
    int rounds, lost_consumer, not_empty, bad_marker_count, clean_exits;
    long missing, dup, corrupt, order, badmark;
};

/* Even rounds: one class for all; odd rounds: mixed. */
static long soak_class_of(const struct soak_queue *ops, uint32_t producer, uint32_t round,
                          uint32_t seq)
{
    if (round % 2 == 0)
        return ops->classes[0];
    uint32_t h = stress_mix(3, (uint32_t[]){ seq, producer, round });
    return ops->classes[h % (uint32_t)ops->nclasses];
}

static uint32_t soak_checksum(const struct soak_msg *m)
{
    uint32_t h = stress_mix(3, (uint32_t[]){ m->producer, m->round, m->seq });
    return stress_checksum(h, m->len, m->payload);
}

static void soak_fill(struct soak_msg *m, uint32_t producer, uint32_t round, uint32_t seq)
{
    m->producer = producer;
    m->round = round;
    m->seq = seq;
    m->len = stress_fill_payload(m->payload, stress_mix(3, (uint32_t[]){ producer, round, seq }));
    m->sum = soak_checksum(m);
}

static int soak_intact(const struct soak_queue *ops, const struct soak_msg *m, long n, long cls,
                       uint32_t round)
{
    return n >= SOAK_HDR && m->len <= STRESS_MAXPAYLOAD && (long)m->len == n - SOAK_HDR &&
           m->round == round && m->producer < SOAK_NPROD && m->seq < SOAK_PER_ROUND &&
           m->sum == soak_checksum(m) && cls == soak_class_of(ops, m->producer, m->round, m->seq);
}

/* The parent's word to a child: 'g' (run a round) or 'q' (exit). */
static char soak_wait_word(int fd)
{
    char b;
    for (;;) {
        ssize_t r = read(fd, &b, 1);
        if (r == 1)
            return b;
        if (r < 0 && errno == EINTR)
            continue;
        return 'q';
    }
}

static void soak_post_word(int fd, char b)
{
    while (write(fd, &b, 1) != 1)
        if (errno != EINTR) {
            printf("HARNESS: cannot reach a child\n");
            exit(98);
        }
}

static void soak_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            exit(4);
        p += n;
        len -= (size_t)n;
    }
}

struct soak_shared {
    uint32_t done;                  /* producers finished this round */
};

static void soak_producer(const struct soak_queue *ops, uint32_t id, int go,
                          volatile struct soak_shared *sh)
{
    for (uint32_t round = 0;; round++) {
        if (soak_wait_word(go) != 'g')
            exit(t_child_status());
        alarm(t_timeout_seconds());
        for (uint32_t seq = 0; seq < SOAK_PER_ROUND; seq++) {
            struct soak_msg m;
            soak_fill(&m, id, round, seq);
            if (ops->send(&m, soak_class_of(ops, id, round, seq), seq) != 0) {
                fprintf(stderr, "producer %u: send -> %s\n", id, t_errno_name(errno));
                exit(3);
            }
        }
        /* Every other producer's sends have returned once the count reaches SOAK_NPROD: the
         * markers go in behind every message of the round. */
        if (__atomic_add_fetch(&sh->done, 1, __ATOMIC_SEQ_CST) == SOAK_NPROD) {
            for (int c = 0; c < SOAK_NCONS; c++) {
                struct soak_msg m;
                memset(&m, 0, sizeof m);
                m.producer = SOAK_MARKER;
                m.round = round;
                if (ops->send(&m, ops->marker_class, 0) != 0) {
                    fprintf(stderr, "producer %u: marker send -> %s\n", id, t_errno_name(errno));
                    exit(3);
                }
            }
        }
    }
}

static void soak_consumer(const struct soak_queue *ops, int consumer, int go, int out)
{
    struct soak_rec buf[SOAK_BATCH];
    int nbuf = 0;
    for (uint32_t round = 0;; round++) {
        if (soak_wait_word(go) != 'g')
            exit(t_child_status());
        alarm(t_timeout_seconds());
        for (unsigned i = 0;; i++) {
            struct soak_msg m;
            long cls = 0;
            memset(&m, 0, sizeof m);
            long n = ops->receive(consumer, i, &m, &cls);
            if (n < 0) {
                fprintf(stderr, "consumer: receive -> %s\n", t_errno_name(errno));
                exit(3);
            }
            int marker = m.producer == SOAK_MARKER;
            int ok = marker ? n == SOAK_HDR && m.round == round && cls == ops->marker_class
                            : soak_intact(ops, &m, n, cls, round);
            struct soak_rec r = { m.producer, m.seq, (uint32_t)cls, (uint32_t)ok };
            buf[nbuf++] = r;
            if (nbuf == SOAK_BATCH || marker) {
                soak_write_all(out, buf, (size_t)nbuf * sizeof buf[0]);
                nbuf = 0;
            }
            if (marker)
                break;
        }
    }
}

/* The parent's ledger of the current round. */
static struct {
    unsigned char seen[SOAK_NPROD][SOAK_PER_ROUND];
    /* Per consumer, producer and class index: the last seq seen, or -1. */
    long last_seq[SOAK_NCONS][SOAK_NPROD][SOAK_MAX_CLASSES];
    long duplicates, missing, corrupt, out_of_order, bad_markers;
    int markers[SOAK_NCONS];
} soak_round T_UNUSED;

static int soak_class_index(const struct soak_queue *ops, uint32_t cls)
{
    for (int i = 0; i < ops->nclasses; i++)
        if (ops->classes[i] == (long)cls)
            return i;
    return -1;
}

/* Takes one record from consumer c; returns 1 when it ends c's round. */
static int soak_note(const struct soak_queue *ops, int c, const struct soak_rec *r)
{
    if (r->producer == SOAK_MARKER) {
        soak_round.markers[c]++;
        if (!r->ok)
            soak_round.bad_markers++;
        return 1;
    }
    int ci = soak_class_index(ops, r->cls);
    if (!r->ok || r->producer >= SOAK_NPROD || r->seq >= SOAK_PER_ROUND || ci < 0) {
        soak_round.corrupt++;
        return 0;
    }
    if (soak_round.seen[r->producer][r->seq]++)
        soak_round.duplicates++;
    long *last = &soak_round.last_seq[c][r->producer][ci];
    if ((long)r->seq <= *last)
        soak_round.out_of_order++;
    *last = r->seq;
    return 0;
}

/* Reads every consumer's records until each has ended its round. Returns 0 if a consumer
 * went away first. */
static int soak_collect_round(const struct soak_queue *ops, const int *from)
{
    static unsigned char pend[SOAK_NCONS][sizeof(struct soak_rec)];
    static size_t npend[SOAK_NCONS];
    int ended[SOAK_NCONS] = { 0 };
    int left = SOAK_NCONS;
    while (left > 0) {
        struct pollfd p[SOAK_NCONS];
        for (int c = 0; c < SOAK_NCONS; c++) {
            p[c].fd = ended[c] ? -1 : from[c];
            p[c].events = POLLIN;
            p[c].revents = 0;
        }
        if (poll(p, SOAK_NCONS, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        for (int c = 0; c < SOAK_NCONS; c++) {
            if (!p[c].revents)
                continue;
            unsigned char buf[SOAK_BATCH * sizeof(struct soak_rec)];
            ssize_t n = read(from[c], buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return 0;
            for (ssize_t i = 0; i < n; i++) {
                pend[c][npend[c]++] = buf[i];
                if (npend[c] == sizeof(struct soak_rec)) {
                    struct soak_rec r;
                    memcpy(&r, pend[c], sizeof r);
                    npend[c] = 0;
                    if (soak_note(ops, c, &r)) {
                        ended[c] = 1;
                        left--;
                    }
                }
            }
        }
    }
    return 1;
}

/* Starts the producers and consumers on the test's queue, runs rounds until stress_seconds()
 * have passed (at least two, one of each kind), stops and reaps them, and returns the figures.
 * Prints nothing on stdout; a round that went wrong is described on stderr. */
static struct soak_totals soak_run(const struct soak_queue *ops) T_UNUSED;
static struct soak_totals soak_run(const struct soak_queue *ops)
{
    double seconds = stress_seconds();
    volatile struct soak_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(sh != MAP_FAILED);

    int prod_go[SOAK_NPROD], cons_go[SOAK_NCONS], cons_out[SOAK_NCONS];
    pid_t kids[SOAK_NPROD + SOAK_NCONS];
    for (int p = 0; p < SOAK_NPROD; p++) {
        int fds[2];
        t_pipe_cloexec(fds);
        pid_t pid = t_fork();
        if (pid == 0) {
            close(fds[1]);
            soak_producer(ops, (uint32_t)p, fds[0], sh);
        }
        close(fds[0]);
        prod_go[p] = fds[1];
        kids[p] = pid;
    }
    for (int c = 0; c < SOAK_NCONS; c++) {
        int go[2], out[2];
        t_pipe_cloexec(go);
        t_pipe_cloexec(out);
        pid_t pid = t_fork();
        if (pid == 0) {
            close(go[1]);
            close(out[0]);
            for (int p = 0; p < SOAK_NPROD; p++)
                close(prod_go[p]);
            for (int k = 0; k < c; k++) {
                close(cons_go[k]);
                close(cons_out[k]);
            }
            soak_consumer(ops, c, go[0], out[1]);
        }
        close(go[0]);
        close(out[1]);
        cons_go[c] = go[1];
        cons_out[c] = out[0];
        kids[SOAK_NPROD + c] = pid;
    }

    struct soak_totals t;
    memset(&t, 0, sizeof t);
    int reported = 0;
    long long end = stress_now_ns() + (long long)(seconds * 1e9);
    while (t.rounds < 2 || stress_now_ns() < end) {
        alarm(t_timeout_seconds());
        memset(&soak_round, 0, sizeof soak_round);
        memset(soak_round.last_seq, 0xff, sizeof soak_round.last_seq);
        __atomic_store_n(&sh->done, 0, __ATOMIC_SEQ_CST);
        for (int c = 0; c < SOAK_NCONS; c++)
            soak_post_word(cons_go[c], 'g');
        for (int p = 0; p < SOAK_NPROD; p++)
            soak_post_word(prod_go[p], 'g');
        if (!soak_collect_round(ops, cons_out)) {
            t.lost_consumer = 1;
            break;
        }
        for (int p = 0; p < SOAK_NPROD; p++)
            for (int s = 0; s < SOAK_PER_ROUND; s++)
                if (!soak_round.seen[p][s])
                    soak_round.missing++;
        for (int c = 0; c < SOAK_NCONS; c++)
            if (soak_round.markers[c] != 1)
                t.bad_marker_count++;
        if (!ops->is_empty())
            t.not_empty++;
        if ((soak_round.missing || soak_round.duplicates || soak_round.corrupt ||
             soak_round.out_of_order || soak_round.bad_markers) && reported++ < 5)
            fprintf(stderr, "round %d: missing %ld, duplicates %ld, corrupt %ld, out of order %ld, "
                    "bad markers %ld\n", t.rounds, soak_round.missing, soak_round.duplicates,
                    soak_round.corrupt, soak_round.out_of_order, soak_round.bad_markers);
        t.missing += soak_round.missing;
        t.dup += soak_round.duplicates;
        t.corrupt += soak_round.corrupt;
        t.order += soak_round.out_of_order;
        t.badmark += soak_round.bad_markers;
        t.rounds++;
    }
    for (int p = 0; p < SOAK_NPROD; p++)
        soak_post_word(prod_go[p], 'q');
    for (int c = 0; c < SOAK_NCONS; c++)
        soak_post_word(cons_go[c], 'q');
    t.clean_exits = 1;
    for (int k = 0; k < SOAK_NPROD + SOAK_NCONS; k++)
        if (t_reap(kids[k]) != 0)
            t.clean_exits = 0;
    return t;
}

/* The transcript's verdicts on a soak run; `cls` names the class ("priority", "type"). */
static void soak_verdicts(const struct soak_totals *t, const char *cls) T_UNUSED;
static void soak_verdicts(const struct soak_totals *t, const char *cls)
{
    char label[128];
    t_check("every round completed (no consumer lost)", !t->lost_consumer);
    t_check("rounds of both kinds ran", t->rounds >= 2);
    t_check("exactly once", t->missing == 0 && t->dup == 0);
    snprintf(label, sizeof label, "intact, with the %s sent", cls);
    t_check(label, t->corrupt == 0);
    snprintf(label, sizeof label, "per-producer FIFO within a %s, at every consumer", cls);
    t_check(label, t->order == 0);
    t_check("one end marker per consumer per round, after every message",
            t->bad_marker_count == 0 && t->badmark == 0);
    t_check("queue empty after every round", t->not_empty == 0);
    t_check("producers and consumers exited cleanly", t->clean_exits);
    fprintf(stderr, "soak: %d rounds; missing %ld, duplicates %ld, corrupt %ld, out of order "
            "%ld, bad markers %ld\n", t->rounds, t->missing, t->dup, t->corrupt, t->order,
            t->badmark);
}

/* ------------------------------------------------------------------------------------------ */
/* kill -9: senders and receivers killed at random                                            */

#define KILL9_NSEND 3
#define KILL9_NRECV 3
#define KILL9_NSLOTS (KILL9_NSEND + KILL9_NRECV)
#define KILL9_HDR 16                /* the four ids ahead of the payload */
#define KILL9_MIN_KILLS 20

/* A kill -9 message's bytes (a System V test sends them after its mtype). */
struct kill9_msg {
    uint32_t sender, seq, len, sum;
    unsigned char payload[STRESS_MAXPAYLOAD];
};

/* What a kill -9 test supplies. */
struct kill9_queue {
    /* Sends `m` (KILL9_HDR + m->len bytes), blocking while the queue is full. 0, or -1. */
    int (*send)(const struct kill9_msg *m);
    /* A receiver's `i`-th receive into `m`, blocking while there is nothing for it; `salt` is
     * the receiver's own random number. Sets *ok to whether the message is intact and is what
     * the receive asked for. The byte count, or -1. */
    long (*receive)(unsigned i, uint32_t salt, struct kill9_msg *m, int *ok);
};

static uint32_t kill9_checksum(const struct kill9_msg *m)
{
    return stress_checksum(stress_mix(2, (uint32_t[]){ m->sender, m->seq }), m->len, m->payload);
}

static void kill9_fill(struct kill9_msg *m, uint32_t sender, uint32_t seq)
{
    m->sender = sender;
    m->seq = seq;
    m->len = stress_fill_payload(m->payload, stress_mix(2, (uint32_t[]){ sender, seq }));
    m->sum = kill9_checksum(m);
}

/* Whether `n` received bytes are an intact message (its class is the test's to check). */
static int kill9_intact(const struct kill9_msg *m, long n) T_UNUSED;
static int kill9_intact(const struct kill9_msg *m, long n)
{
    return n >= KILL9_HDR && m->len <= STRESS_MAXPAYLOAD && (long)m->len == n - KILL9_HDR &&
           m->sum == kill9_checksum(m);
}

struct kill9_logrec {
    uint32_t sender, seq, ok, pad;
};

/* The parent's ledger and the run's figures. */
static struct {
    uint32_t next_sender_id;
    unsigned char **seen;           /* seen[sender] = bitmap of received seqs */
    size_t *seen_cap;               /* in bytes */
    size_t nseen;
    long duplicates, corrupt, received;
    unsigned char logbuf[sizeof(struct kill9_logrec)];
    size_t loglen;
    pid_t slots[KILL9_NSLOTS];
    long unexpected_exits, kills;
    uint64_t rng, seed;
} kill9 T_UNUSED;

/* Counts one received message: a duplicate, a corrupt one, or a new one. */
static void kill9_note(uint32_t sender, uint32_t seq, int ok) T_UNUSED;
static void kill9_note(uint32_t sender, uint32_t seq, int ok)
{
    kill9.received++;
    if (!ok || sender == 0 || sender >= kill9.next_sender_id) {
        kill9.corrupt++;
        return;
    }
    if (sender >= kill9.nseen) {
        size_t n = kill9.next_sender_id + 64;
        kill9.seen = realloc(kill9.seen, n * sizeof *kill9.seen);
        kill9.seen_cap = realloc(kill9.seen_cap, n * sizeof *kill9.seen_cap);
        T_REQUIRE(kill9.seen && kill9.seen_cap);
        for (size_t i = kill9.nseen; i < n; i++) {
            kill9.seen[i] = NULL;
            kill9.seen_cap[i] = 0;
        }
        kill9.nseen = n;
    }
    size_t byte = seq / 8;
    if (byte >= kill9.seen_cap[sender]) {
        size_t cap = kill9.seen_cap[sender] ? kill9.seen_cap[sender] : 1024;
        while (cap <= byte)
            cap *= 2;
        kill9.seen[sender] = realloc(kill9.seen[sender], cap);
        T_REQUIRE(kill9.seen[sender]);
        memset(kill9.seen[sender] + kill9.seen_cap[sender], 0, cap - kill9.seen_cap[sender]);
        kill9.seen_cap[sender] = cap;
    }
    unsigned char bit = (unsigned char)(1u << (seq % 8));
    if (kill9.seen[sender][byte] & bit)
        kill9.duplicates++;
    kill9.seen[sender][byte] |= bit;
}

/* Read what the log holds now; returns 0 at end of file. */
static int kill9_read_log(int fd)
{
    for (;;) {
        unsigned char buf[16 * 1024];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0)
            return errno == EINTR ? 1 : errno == EAGAIN ? 1 : 0;
        if (n == 0)
            return 0;
        for (ssize_t i = 0; i < n; i++) {
            kill9.logbuf[kill9.loglen++] = buf[i];
            if (kill9.loglen == sizeof kill9.logbuf) {
                struct kill9_logrec r;
                memcpy(&r, kill9.logbuf, sizeof r);
                kill9_note(r.sender, r.seq, (int)r.ok);
                kill9.loglen = 0;
            }
        }
    }
}

static uint32_t kill9_rnd(void)
{
    kill9.rng ^= kill9.rng >> 12;
    kill9.rng ^= kill9.rng << 25;
    kill9.rng ^= kill9.rng >> 27;
    return (uint32_t)((kill9.rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static void kill9_sender(const struct kill9_queue *ops, uint32_t sender)
{
    for (uint32_t seq = 0;; seq++) {
        struct kill9_msg m;
        kill9_fill(&m, sender, seq);
        if (ops->send(&m) != 0)
            exit(3);
    }
}

static void kill9_receiver(const struct kill9_queue *ops, int logfd, uint32_t salt)
{
    for (unsigned i = 0;; i++) {
        struct kill9_msg m;
        int ok = 0;
        memset(&m, 0, sizeof m);
        long n = ops->receive(i, salt, &m, &ok);
        if (n < 0)
            exit(3);
        struct kill9_logrec rec = { m.sender, m.seq, (uint32_t)ok, 0 };
        if (write(logfd, &rec, sizeof rec) != (ssize_t)sizeof rec)
            exit(4);
    }
}

static void kill9_start(const struct kill9_queue *ops, int slot, int logfd, int logrd,
                        unsigned child_alarm)
{
    uint32_t sender = slot < KILL9_NSEND ? kill9.next_sender_id++ : 0;
    uint32_t salt = kill9_rnd();
    pid_t pid = t_fork();
    if (pid == 0) {
        alarm(child_alarm);
        close(logrd);
        if (slot < KILL9_NSEND)
            kill9_sender(ops, sender);
        kill9_receiver(ops, logfd, salt);
    }
    kill9.slots[slot] = pid;
}

static void kill9_kill_slot(int slot)
{
    kill(kill9.slots[slot], SIGKILL);
    if (t_reap(kill9.slots[slot]) != 128 + SIGKILL)
        kill9.unexpected_exits++;
    kill9.slots[slot] = 0;
}

/* Runs the senders and receivers on the test's queue for stress_seconds() (and at least
 * KILL9_MIN_KILLS kills), killing and replacing one at random every 0 to 15 ms; then kills the
 * rest and reads their logs to the end. What is left in the queue is the test's to drain (with
 * kill9_note). Prints nothing. */
static void kill9_run(const struct kill9_queue *ops) T_UNUSED;
static void kill9_run(const struct kill9_queue *ops)
{
    double seconds = stress_seconds();
    unsigned budget = t_timeout_seconds() + (unsigned)seconds;
    alarm(budget);
    kill9.next_sender_id = 1;
    kill9.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)stress_now_ns() ^ 0x9E3779B97F4A7C15ull;
    kill9.seed = kill9.rng;

    int logp[2];
    T_REQUIRE(pipe2(logp, O_CLOEXEC) == 0);
    T_REQUIRE(fcntl(logp[0], F_SETFL, O_NONBLOCK) == 0);

    for (int s = 0; s < KILL9_NSLOTS; s++)
        kill9_start(ops, s, logp[1], logp[0], budget);

    long long end = stress_now_ns() + (long long)(seconds * 1e9);
    while (stress_now_ns() < end || kill9.kills < KILL9_MIN_KILLS) {
        long long at = stress_now_ns() + (long long)(kill9_rnd() % 15000) * 1000LL;   /* 0..15 ms */
        for (;;) {
            long long left = at - stress_now_ns();
            if (left <= 0)
                break;
            struct pollfd p = { .fd = logp[0], .events = POLLIN };
            int timeout = (int)((left + 999999) / 1000000);
            if (poll(&p, 1, timeout) > 0)
                kill9_read_log(logp[0]);
        }
        int slot = (int)(kill9_rnd() % KILL9_NSLOTS);
        kill9_kill_slot(slot);
        kill9_start(ops, slot, logp[1], logp[0], budget);
        kill9.kills++;
        kill9_read_log(logp[0]);
    }
    for (int s = 0; s < KILL9_NSLOTS; s++)
        kill9_kill_slot(s);
    close(logp[1]);
    while (kill9_read_log(logp[0]))
        ;
    close(logp[0]);
}

/* The transcript's verdicts on the ledger, once the test has drained the queue into it. */
static void kill9_verdicts(void) T_UNUSED;
static void kill9_verdicts(void)
{
    t_check("messages flowed", kill9.received > 0);
    printf("duplicates: %ld%s\n", kill9.duplicates, kill9.duplicates ? "  !! MISMATCH" : "");
    printf("corrupt: %ld%s\n", kill9.corrupt, kill9.corrupt ? "  !! MISMATCH" : "");
    if (kill9.duplicates || kill9.corrupt)
        t_failures++;
}

#endif /* MQT_STRESS_H */
