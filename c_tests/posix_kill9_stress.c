/* Kill -9 stress: three senders and three receivers work one queue (maxmsg 10, msgsize 64)
 * while the parent repeatedly SIGKILLs a random child at a random moment and starts a
 * replacement. Every message carries (sender, seq, payload length, checksum) and a payload of
 * varying length; receivers log each message to a pipe as soon as they have it. At the end the
 * parent kills the rest, drains the queue and checks: no message was received twice, every
 * message was intact, the children died only by SIGKILL, and the queue still works. Messages
 * lost with a receiver killed before it logged them are allowed.
 *
 * Length: MQT_STRESS_SECONDS (default 1; `make stress` runs it long). Children are killed on
 * purpose, so their calls are cut short: the test is uncounted. */
#include "harness.h"
#include <poll.h>

#define MAXMSG 10
#define MSGSIZE 64
#define NSEND 3
#define NRECV 3
#define NSLOTS (NSEND + NRECV)
#define HDR 16
#define MAXPAYLOAD (MSGSIZE - HDR)
#define MIN_KILLS 20

struct wire {
    uint32_t sender, seq, len, sum;
    unsigned char payload[MAXPAYLOAD];
};

struct logrec {
    uint32_t sender, seq, ok, pad;
};

static uint32_t mix(uint32_t a, uint32_t b)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 4; i++)
        h = (h ^ ((a >> (8 * i)) & 0xff)) * 16777619u;
    for (int i = 0; i < 4; i++)
        h = (h ^ ((b >> (8 * i)) & 0xff)) * 16777619u;
    return h;
}

static uint32_t checksum(const struct wire *w)
{
    uint32_t h = mix(w->sender, w->seq) ^ (w->len * 2654435761u);
    for (uint32_t i = 0; i < w->len && i < MAXPAYLOAD; i++)
        h = (h ^ w->payload[i]) * 16777619u;
    return h;
}

static void fill(struct wire *w, uint32_t sender, uint32_t seq)
{
    uint32_t h = mix(sender, seq);
    w->sender = sender;
    w->seq = seq;
    w->len = h % (MAXPAYLOAD + 1);
    for (uint32_t i = 0; i < w->len; i++) {
        h = h * 1103515245u + 12345u;
        w->payload[i] = (unsigned char)(h >> 16);
    }
    w->sum = checksum(w);
}

static unsigned prio_of(uint32_t sender, uint32_t seq)
{
    return mix(seq, sender) % 4;
}

/* Is this received message intact? */
static int intact(const struct wire *w, long n, unsigned prio)
{
    return n >= HDR && w->len <= MAXPAYLOAD && (long)w->len == n - HDR &&
           w->sum == checksum(w) && prio == prio_of(w->sender, w->seq);
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

/* ---- children ---------------------------------------------------------------------------- */

static void sender_main(mqd_t q, uint32_t id)
{
    for (uint32_t seq = 0;; seq++) {
        struct wire w;
        fill(&w, id, seq);
        int r;
        if (seq & 1) {
            struct timespec far = t_deadline_ms(60000);
            r = mq_timedsend(q, (const char *)&w, HDR + w.len, prio_of(id, seq), &far);
        } else {
            r = mq_send(q, (const char *)&w, HDR + w.len, prio_of(id, seq));
        }
        if (r != 0)
            exit(3);
    }
}

static void receiver_main(mqd_t q, int logfd)
{
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
        if (n < 0)
            exit(3);
        struct logrec rec = { w.sender, w.seq, (uint32_t)intact(&w, n, prio), 0 };
        if (write(logfd, &rec, sizeof rec) != (ssize_t)sizeof rec)
            exit(4);
    }
}

/* ---- the parent's bookkeeping ------------------------------------------------------------ */

static uint32_t next_sender_id = 1;
static unsigned char **seen;        /* seen[sender] = bitmap of received seqs */
static size_t *seen_cap;            /* in bytes */
static size_t nseen;
static long duplicates, corrupt, received;

static void note(uint32_t sender, uint32_t seq, int ok)
{
    received++;
    if (!ok || sender == 0 || sender >= next_sender_id) {
        corrupt++;
        return;
    }
    if (sender >= nseen) {
        size_t n = next_sender_id + 64;
        seen = realloc(seen, n * sizeof *seen);
        seen_cap = realloc(seen_cap, n * sizeof *seen_cap);
        T_REQUIRE(seen && seen_cap);
        for (size_t i = nseen; i < n; i++) {
            seen[i] = NULL;
            seen_cap[i] = 0;
        }
        nseen = n;
    }
    size_t byte = seq / 8;
    if (byte >= seen_cap[sender]) {
        size_t cap = seen_cap[sender] ? seen_cap[sender] : 1024;
        while (cap <= byte)
            cap *= 2;
        seen[sender] = realloc(seen[sender], cap);
        T_REQUIRE(seen[sender]);
        memset(seen[sender] + seen_cap[sender], 0, cap - seen_cap[sender]);
        seen_cap[sender] = cap;
    }
    unsigned char bit = (unsigned char)(1u << (seq % 8));
    if (seen[sender][byte] & bit)
        duplicates++;
    seen[sender][byte] |= bit;
}

static unsigned char logbuf[sizeof(struct logrec)];
static size_t loglen;

/* Read what the log holds now; returns 0 at end of file. */
static int read_log(int fd)
{
    for (;;) {
        unsigned char buf[16 * 1024];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0)
            return errno == EINTR ? 1 : errno == EAGAIN ? 1 : 0;
        if (n == 0)
            return 0;
        for (ssize_t i = 0; i < n; i++) {
            logbuf[loglen++] = buf[i];
            if (loglen == sizeof logbuf) {
                struct logrec r;
                memcpy(&r, logbuf, sizeof r);
                note(r.sender, r.seq, (int)r.ok);
                loglen = 0;
            }
        }
    }
}

static pid_t slots[NSLOTS];
static long unexpected_exits;
static uint64_t rng;

static uint32_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static void start(int slot, mqd_t q, int logfd, int logrd, unsigned child_alarm)
{
    uint32_t id = slot < NSEND ? next_sender_id++ : 0;
    pid_t pid = t_fork();
    if (pid == 0) {
        alarm(child_alarm);
        close(logrd);
        if (slot < NSEND)
            sender_main(q, id);
        receiver_main(q, logfd);
    }
    slots[slot] = pid;
}

static void kill_slot(int slot)
{
    kill(slots[slot], SIGKILL);
    if (t_reap(slots[slot]) != 128 + SIGKILL)
        unexpected_exits++;
    slots[slot] = 0;
}

int main(void)
{
    t_uncounted();
    double seconds = stress_seconds();
    unsigned budget = t_timeout_seconds() + (unsigned)seconds;
    alarm(budget);
    rng = ((uint64_t)getpid() << 32) ^ (uint64_t)now_ns() ^ 0x9E3779B97F4A7C15ull;
    uint64_t seed = rng;

    const char *name = t_qname("kill9");
    mqd_t q = t_mq_create("kill9", MAXMSG, MSGSIZE, 0);
    int logp[2];
    T_REQUIRE(pipe2(logp, O_CLOEXEC) == 0);
    T_REQUIRE(fcntl(logp[0], F_SETFL, O_NONBLOCK) == 0);

    for (int s = 0; s < NSLOTS; s++)
        start(s, q, logp[1], logp[0], budget);

    long long end = now_ns() + (long long)(seconds * 1e9);
    long kills = 0;
    while (now_ns() < end || kills < MIN_KILLS) {
        long long at = now_ns() + (long long)(rnd() % 15000) * 1000LL;   /* 0..15 ms */
        for (;;) {
            long long left = at - now_ns();
            if (left <= 0)
                break;
            struct pollfd p = { .fd = logp[0], .events = POLLIN };
            int timeout = (int)((left + 999999) / 1000000);
            if (poll(&p, 1, timeout) > 0)
                read_log(logp[0]);
        }
        int slot = (int)(rnd() % NSLOTS);
        kill_slot(slot);
        start(slot, q, logp[1], logp[0], budget);
        kills++;
        read_log(logp[0]);
    }
    for (int s = 0; s < NSLOTS; s++)
        kill_slot(s);
    close(logp[1]);
    while (read_log(logp[0]))
        ;
    close(logp[0]);

    /* Drain what is left, through a non-blocking descriptor of our own. */
    mqd_t nb = mq_open(name, O_RDONLY | O_NONBLOCK);
    T_REQUIRE(nb != (mqd_t)-1);
    for (;;) {
        struct wire w;
        unsigned prio = 0;
        memset(&w, 0, sizeof w);
        long n = mq_receive(nb, (char *)&w, MSGSIZE, &prio);
        if (n < 0) {
            if (errno != EAGAIN) {
                t_say("draining: mq_receive -> -1 %s  !! MISMATCH", t_errno_name(errno));
                t_failures++;
            }
            break;
        }
        note(w.sender, w.seq, intact(&w, n, prio));
    }

    t_check("messages flowed", received > 0);
    printf("duplicates: %ld%s\n", duplicates, duplicates ? "  !! MISMATCH" : "");
    printf("corrupt: %ld%s\n", corrupt, corrupt ? "  !! MISMATCH" : "");
    if (duplicates || corrupt)
        t_failures++;
    t_check("children ended only by SIGKILL", unexpected_exits == 0);

    struct mq_attr attr;
    char buf[MSGSIZE];
    unsigned prio = 0;
    int works = mq_getattr(q, &attr) == 0 && attr.mq_curmsgs == 0 &&
                mq_send(q, "final", 5, 7) == 0 &&
                mq_receive(nb, buf, sizeof buf, &prio) == 5 && memcmp(buf, "final", 5) == 0 &&
                prio == 7 && mq_receive(nb, buf, sizeof buf, NULL) == -1 && errno == EAGAIN;
    t_check("queue works", works);
    if (t_failures)
        fprintf(stderr, "kill9 stress: seed %#llx, %ld kills, %ld messages received\n",
                (unsigned long long)seed, kills, received);

    mq_close(nb);
    mq_close(q);
    mq_unlink(name);
    return t_finish();
}
