/* Soak: four producer and four consumer processes share one queue (maxmsg 10, msgsize 64) with
 * blocking calls only (mq_send/mq_timedsend, mq_receive/mq_timedreceive with far deadlines), so
 * the queue is full and empty over and over and every send or receive may block and be woken.
 * The run is a series of rounds; in each, every producer sends 500 messages carrying
 * (producer, round, seq, length, checksum) and a payload of varying length; rounds alternate
 * one priority for everything and mixed priorities (1, 7, 4000, 32767). The producer that
 * finishes last sends one end marker per consumer at priority 0, behind every message of the
 * round; a consumer that takes one stops and waits for the next round, so each takes exactly
 * one. Consumers report every message, in the order they received it, through a pipe of their
 * own. After each round the parent checks: every message arrived exactly once and intact with
 * the priority it was sent with; each consumer saw each producer's messages of a priority in
 * the order they were sent (FIFO within a priority); each consumer got one marker; the queue is
 * empty. A lost wake-up hangs a round, and the watchdog (re-armed every round) turns that into
 * TIMEOUT.
 *
 * Length: rounds until MQT_STRESS_SECONDS (default 1) have passed, at least one of each kind.
 * The transcript holds only the fixed per-round figures and the verdicts. */
#include "harness.h"
#include <poll.h>
#include <sys/mman.h>

#define MAXMSG 10
#define MSGSIZE 64
#define NPROD 4
#define NCONS 4
#define PER_ROUND 500               /* messages per producer per round */
#define HDR 20
#define MAXPAYLOAD (MSGSIZE - HDR)
#define MARKER 0xFFFFFFFFu          /* producer id of an end marker */
#define BATCH 256                   /* records a consumer buffers before writing them */

static const unsigned mixed_prios[4] = { 1, 7, 4000, 32767 };
#define EQUAL_PRIO 1

struct wire {
    uint32_t producer, round, seq, len, sum;
    unsigned char payload[MAXPAYLOAD];
};

/* What a consumer reports per message; producer == MARKER ends its round. */
struct rec {
    uint32_t producer, seq;
    uint32_t prio;
    uint32_t ok;
};

struct shared {
    uint32_t done;                  /* producers finished this round */
};

static uint32_t mix(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t h = 2166136261u;
    uint32_t v[3] = { a, b, c };
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 4; i++)
            h = (h ^ ((v[k] >> (8 * i)) & 0xff)) * 16777619u;
    return h;
}

static uint32_t checksum(const struct wire *w)
{
    uint32_t h = mix(w->producer, w->round, w->seq) ^ (w->len * 2654435761u);
    for (uint32_t i = 0; i < w->len && i < MAXPAYLOAD; i++)
        h = (h ^ w->payload[i]) * 16777619u;
    return h;
}

static void fill(struct wire *w, uint32_t producer, uint32_t round, uint32_t seq)
{
    uint32_t h = mix(producer, round, seq);
    w->producer = producer;
    w->round = round;
    w->seq = seq;
    w->len = h % (MAXPAYLOAD + 1);
    for (uint32_t i = 0; i < w->len; i++) {
        h = h * 1103515245u + 12345u;
        w->payload[i] = (unsigned char)(h >> 16);
    }
    w->sum = checksum(w);
}

/* Even rounds: one priority for all; odd rounds: mixed. */
static unsigned prio_of(uint32_t producer, uint32_t round, uint32_t seq)
{
    if (round % 2 == 0)
        return EQUAL_PRIO;
    return mixed_prios[mix(seq, producer, round) % 4];
}

static int intact(const struct wire *w, long n, unsigned prio, uint32_t round)
{
    return n >= HDR && w->len <= MAXPAYLOAD && (long)w->len == n - HDR && w->round == round &&
           w->producer < NPROD && w->seq < PER_ROUND && w->sum == checksum(w) &&
           prio == prio_of(w->producer, w->round, w->seq);
}

static double stress_seconds(void)
{
    const char *s = getenv("MQT_STRESS_SECONDS");
    double v = s ? strtod(s, NULL) : 0;
    return v > 0 ? v : 1.0;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The parent's word to a child: 'g' (run a round) or 'q' (exit). */
static char wait_word(int fd)
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

static void post_word(int fd, char b)
{
    while (write(fd, &b, 1) != 1)
        if (errno != EINTR) {
            printf("HARNESS: cannot reach a child\n");
            exit(98);
        }
}

static void write_all(int fd, const void *buf, size_t len)
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

/* ---- children ---------------------------------------------------------------------------- */

static void producer_main(mqd_t q, uint32_t id, int go, volatile struct shared *sh)
{
    for (uint32_t round = 0;; round++) {
        if (wait_word(go) != 'g')
            exit(t_child_status());
        alarm(t_timeout_seconds());
        for (uint32_t seq = 0; seq < PER_ROUND; seq++) {
            struct wire w;
            fill(&w, id, round, seq);
            int r;
            if (seq & 1) {
                struct timespec far = t_deadline_ms(60000);
                r = mq_timedsend(q, (const char *)&w, HDR + w.len, prio_of(id, round, seq), &far);
            } else {
                r = mq_send(q, (const char *)&w, HDR + w.len, prio_of(id, round, seq));
            }
            if (r != 0) {
                fprintf(stderr, "producer %u: send -> %s\n", id, t_errno_name(errno));
                exit(3);
            }
        }
        /* Every other producer's sends have returned once the count reaches NPROD: the
         * markers go in behind every message of the round. */
        if (__atomic_add_fetch(&sh->done, 1, __ATOMIC_SEQ_CST) == NPROD) {
            for (int c = 0; c < NCONS; c++) {
                struct wire m;
                memset(&m, 0, sizeof m);
                m.producer = MARKER;
                m.round = round;
                if (mq_send(q, (const char *)&m, HDR, 0) != 0) {
                    fprintf(stderr, "producer %u: marker send -> %s\n", id, t_errno_name(errno));
                    exit(3);
                }
            }
        }
    }
}

static void consumer_main(mqd_t q, int go, int out)
{
    struct rec buf[BATCH];
    int nbuf = 0;
    for (uint32_t round = 0;; round++) {
        if (wait_word(go) != 'g')
            exit(t_child_status());
        alarm(t_timeout_seconds());
        for (unsigned i = 0;; i++) {
            struct wire w;
            unsigned prio = 0;
            long n;
            memset(&w, 0, sizeof w);
            if (i & 1) {
                struct timespec far = t_deadline_ms(60000);
                n = mq_timedreceive(q, (char *)&w, MSGSIZE, &prio, &far);
            } else {
                n = mq_receive(q, (char *)&w, MSGSIZE, &prio);
            }
            if (n < 0) {
                fprintf(stderr, "consumer: receive -> %s\n", t_errno_name(errno));
                exit(3);
            }
            int marker = w.producer == MARKER;
            struct rec r = { w.producer, w.seq, prio,
                             marker ? (uint32_t)(n == HDR && w.round == round && prio == 0)
                                    : (uint32_t)intact(&w, n, prio, round) };
            buf[nbuf++] = r;
            if (nbuf == BATCH || marker) {
                write_all(out, buf, (size_t)nbuf * sizeof buf[0]);
                nbuf = 0;
            }
            if (marker)
                break;
        }
    }
}

/* ---- the parent's checks ----------------------------------------------------------------- */

static unsigned char seen[NPROD][PER_ROUND];
/* Per consumer, producer and priority index (0..3): the last seq seen, or -1. */
static long last_seq[NCONS][NPROD][4];
static long duplicates, missing, corrupt, out_of_order, bad_markers;
static int markers[NCONS];

static int prio_index(unsigned prio)
{
    for (int i = 0; i < 4; i++)
        if (mixed_prios[i] == prio)
            return i;
    return -1;
}

/* Takes one record from consumer c; returns 1 when it ends c's round. */
static int note(int c, const struct rec *r)
{
    if (r->producer == MARKER) {
        markers[c]++;
        if (!r->ok)
            bad_markers++;
        return 1;
    }
    int pi = prio_index(r->prio);
    if (!r->ok || r->producer >= NPROD || r->seq >= PER_ROUND || pi < 0) {
        corrupt++;
        return 0;
    }
    if (seen[r->producer][r->seq]++)
        duplicates++;
    long *last = &last_seq[c][r->producer][pi];
    if ((long)r->seq <= *last)
        out_of_order++;
    *last = r->seq;
    return 0;
}

/* Reads every consumer's records until each has ended its round. Returns 0 if a consumer
 * went away first. */
static int collect_round(const int *from)
{
    static unsigned char pend[NCONS][sizeof(struct rec)];
    static size_t npend[NCONS];
    int ended[NCONS] = { 0 };
    int left = NCONS;
    while (left > 0) {
        struct pollfd p[NCONS];
        for (int c = 0; c < NCONS; c++) {
            p[c].fd = ended[c] ? -1 : from[c];
            p[c].events = POLLIN;
            p[c].revents = 0;
        }
        if (poll(p, NCONS, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        for (int c = 0; c < NCONS; c++) {
            if (!p[c].revents)
                continue;
            unsigned char buf[BATCH * sizeof(struct rec)];
            ssize_t n = read(from[c], buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return 0;
            for (ssize_t i = 0; i < n; i++) {
                pend[c][npend[c]++] = buf[i];
                if (npend[c] == sizeof(struct rec)) {
                    struct rec r;
                    memcpy(&r, pend[c], sizeof r);
                    npend[c] = 0;
                    if (note(c, &r)) {
                        ended[c] = 1;
                        left--;
                    }
                }
            }
        }
    }
    return 1;
}

int main(void)
{
    double seconds = stress_seconds();
    const char *name = t_qname("soak");
    mqd_t q = t_mq_create("soak", MAXMSG, MSGSIZE, 0);
    volatile struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(sh != MAP_FAILED);

    int prod_go[NPROD], cons_go[NCONS], cons_out[NCONS];
    pid_t kids[NPROD + NCONS];
    for (int p = 0; p < NPROD; p++) {
        int fds[2];
        t_pipe_cloexec(fds);
        pid_t pid = t_fork();
        if (pid == 0) {
            close(fds[1]);
            producer_main(q, (uint32_t)p, fds[0], sh);
        }
        close(fds[0]);
        prod_go[p] = fds[1];
        kids[p] = pid;
    }
    for (int c = 0; c < NCONS; c++) {
        int go[2], out[2];
        t_pipe_cloexec(go);
        t_pipe_cloexec(out);
        pid_t pid = t_fork();
        if (pid == 0) {
            close(go[1]);
            close(out[0]);
            for (int p = 0; p < NPROD; p++)
                close(prod_go[p]);
            for (int k = 0; k < c; k++) {
                close(cons_go[k]);
                close(cons_out[k]);
            }
            consumer_main(q, go[0], out[1]);
        }
        close(go[0]);
        close(out[1]);
        cons_go[c] = go[1];
        cons_out[c] = out[0];
        kids[NPROD + c] = pid;
    }

    long long end = now_ns() + (long long)(seconds * 1e9);
    int rounds = 0, reported = 0, lost_consumer = 0, not_empty = 0, bad_marker_count = 0;
    long total_missing = 0, total_dup = 0, total_corrupt = 0, total_order = 0, total_badmark = 0;
    while (rounds < 2 || now_ns() < end) {
        alarm(t_timeout_seconds());
        memset(seen, 0, sizeof seen);
        memset(last_seq, 0xff, sizeof last_seq);
        memset(markers, 0, sizeof markers);
        duplicates = missing = corrupt = out_of_order = bad_markers = 0;
        __atomic_store_n(&sh->done, 0, __ATOMIC_SEQ_CST);
        for (int c = 0; c < NCONS; c++)
            post_word(cons_go[c], 'g');
        for (int p = 0; p < NPROD; p++)
            post_word(prod_go[p], 'g');
        if (!collect_round(cons_out)) {
            lost_consumer = 1;
            break;
        }
        for (int p = 0; p < NPROD; p++)
            for (int s = 0; s < PER_ROUND; s++)
                if (!seen[p][s])
                    missing++;
        for (int c = 0; c < NCONS; c++)
            if (markers[c] != 1)
                bad_marker_count++;
        struct mq_attr a;
        if (mq_getattr(q, &a) != 0 || a.mq_curmsgs != 0)
            not_empty++;
        if ((missing || duplicates || corrupt || out_of_order || bad_markers) && reported++ < 5)
            fprintf(stderr, "round %d: missing %ld, duplicates %ld, corrupt %ld, out of order %ld, "
                    "bad markers %ld\n", rounds, missing, duplicates, corrupt, out_of_order,
                    bad_markers);
        total_missing += missing;
        total_dup += duplicates;
        total_corrupt += corrupt;
        total_order += out_of_order;
        total_badmark += bad_markers;
        rounds++;
    }
    for (int p = 0; p < NPROD; p++)
        post_word(prod_go[p], 'q');
    for (int c = 0; c < NCONS; c++)
        post_word(cons_go[c], 'q');
    int clean_exits = 1;
    for (int k = 0; k < NPROD + NCONS; k++)
        if (t_reap(kids[k]) != 0)
            clean_exits = 0;

    t_say("queue: maxmsg %d, msgsize %d; %d producers, %d consumers, blocking calls", MAXMSG,
          MSGSIZE, NPROD, NCONS);
    t_say("per round: %d messages (%d per producer), then %d end markers", NPROD * PER_ROUND,
          PER_ROUND, NCONS);
    t_say("rounds alternate: priority %d for all; priorities %u, %u, %u, %u mixed", EQUAL_PRIO,
          mixed_prios[0], mixed_prios[1], mixed_prios[2], mixed_prios[3]);
    t_check("every round completed (no consumer lost)", !lost_consumer);
    t_check("rounds of both kinds ran", rounds >= 2);
    t_check("exactly once", total_missing == 0 && total_dup == 0);
    t_check("intact, with the priority sent", total_corrupt == 0);
    t_check("per-producer FIFO within a priority, at every consumer", total_order == 0);
    t_check("one end marker per consumer per round, after every message",
            bad_marker_count == 0 && total_badmark == 0);
    t_check("queue empty after every round", not_empty == 0);
    t_check("producers and consumers exited cleanly", clean_exits);
    fprintf(stderr, "soak: %d rounds; missing %ld, duplicates %ld, corrupt %ld, out of order "
            "%ld, bad markers %ld\n", rounds, total_missing, total_dup, total_corrupt, total_order,
            total_badmark);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(name), 0);
    return t_finish();
}
