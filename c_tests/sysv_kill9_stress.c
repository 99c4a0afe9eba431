/* Kill -9 stress: three senders and three receivers work one SysV queue (qbytes 600, so it is
 * often full) while the parent repeatedly SIGKILLs a random child at a random moment and starts
 * a replacement. Every message carries (sender, seq, payload length, checksum), a payload of
 * varying length and an mtype derived from them (1..5); receivers select in every way —
 * msgtyp 0, a type, a type with MSG_EXCEPT, a negative type — and log each message to a pipe
 * as soon as they have it. At the end the parent kills the rest, drains the queue and checks:
 * no message was received twice, every message was intact and of the type it was sent with,
 * the children died only by SIGKILL, and the queue still works (IPC_STAT agrees). Messages
 * lost with a receiver killed before it logged them are allowed.
 *
 * Length: MQT_STRESS_SECONDS (default 1; `make stress` runs it long). Children are killed on
 * purpose, so their calls are cut short: the test is uncounted. */
#include "harness.h"
#include <poll.h>

#define QBYTES 600
#define NSEND 3
#define NRECV 3
#define NSLOTS (NSEND + NRECV)
#define HDR 16
#define MAXPAYLOAD 120
#define NTYPES 5
#define MIN_KILLS 20

struct wire {
    long mtype;
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

static long type_of(uint32_t sender, uint32_t seq)
{
    return 1 + (long)(mix(seq, sender) % NTYPES);
}

static void fill(struct wire *w, uint32_t sender, uint32_t seq)
{
    uint32_t h = mix(sender, seq);
    w->mtype = type_of(sender, seq);
    w->sender = sender;
    w->seq = seq;
    w->len = h % (MAXPAYLOAD + 1);
    for (uint32_t i = 0; i < w->len; i++) {
        h = h * 1103515245u + 12345u;
        w->payload[i] = (unsigned char)(h >> 16);
    }
    w->sum = checksum(w);
}

/* Is this received message intact? */
static int intact(const struct wire *w, long n)
{
    return n >= HDR && w->len <= MAXPAYLOAD && (long)w->len == n - HDR && w->sum == checksum(w) &&
           w->mtype == type_of(w->sender, w->seq);
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

static void sender_main(int id, uint32_t sender)
{
    for (uint32_t seq = 0;; seq++) {
        struct wire w;
        fill(&w, sender, seq);
        if (msgsnd(id, &w, HDR + w.len, 0) != 0)
            exit(3);
    }
}

static void receiver_main(int id, int logfd, uint32_t salt)
{
    for (unsigned i = 0;; i++) {
        struct wire w;
        memset(&w, 0, sizeof w);
        long msgtyp = 0;
        int flags = 0;
        switch ((i + salt) % 4) {
        case 0: msgtyp = 0; break;
        case 1: msgtyp = 1 + (long)((i / 4) % NTYPES); break;
        case 2: msgtyp = 1 + (long)((i / 4) % NTYPES); flags = MSG_EXCEPT; break;
        case 3: msgtyp = -(long)(1 + (i / 4) % NTYPES); break;
        }
        long n = msgrcv(id, &w, HDR + MAXPAYLOAD, msgtyp, flags);
        if (n < 0)
            exit(3);
        int ok = intact(&w, n) && (msgtyp == 0 ||
                                   (msgtyp > 0 && !flags && w.mtype == msgtyp) ||
                                   (msgtyp > 0 && flags && w.mtype != msgtyp) ||
                                   (msgtyp < 0 && w.mtype <= -msgtyp));
        struct logrec rec = { w.sender, w.seq, (uint32_t)ok, 0 };
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

static void start(int slot, int id, int logfd, int logrd, unsigned child_alarm)
{
    uint32_t sender = slot < NSEND ? next_sender_id++ : 0;
    uint32_t salt = rnd();
    pid_t pid = t_fork();
    if (pid == 0) {
        alarm(child_alarm);
        close(logrd);
        if (slot < NSEND)
            sender_main(id, sender);
        receiver_main(id, logfd, salt);
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

    int id = t_msgget_new("kill9", 0600, NULL);
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = QBYTES;
    T_REQUIRE(msgctl(id, IPC_SET, &ds) == 0);
    int logp[2];
    T_REQUIRE(pipe2(logp, O_CLOEXEC) == 0);
    T_REQUIRE(fcntl(logp[0], F_SETFL, O_NONBLOCK) == 0);

    for (int s = 0; s < NSLOTS; s++)
        start(s, id, logp[1], logp[0], budget);

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
        start(slot, id, logp[1], logp[0], budget);
        kills++;
        read_log(logp[0]);
    }
    for (int s = 0; s < NSLOTS; s++)
        kill_slot(s);
    close(logp[1]);
    while (read_log(logp[0]))
        ;
    close(logp[0]);

    /* Drain what is left, checking that IPC_STAT's counts follow. */
    long left = 0, mismatched_counts = 0;
    for (;;) {
        struct msqid_ds before;
        if (msgctl(id, IPC_STAT, &before) != 0)
            break;
        struct wire w;
        memset(&w, 0, sizeof w);
        long n = msgrcv(id, &w, HDR + MAXPAYLOAD, 0, IPC_NOWAIT);
        if (n < 0) {
            if (errno != ENOMSG) {
                t_say("draining: msgrcv -> -1 %s  !! MISMATCH", t_errno_name(errno));
                t_failures++;
            }
            if (before.msg_qnum != 0 || before.__msg_cbytes != 0)
                mismatched_counts++;
            break;
        }
        struct msqid_ds after;
        if (msgctl(id, IPC_STAT, &after) != 0 || after.msg_qnum + 1 != before.msg_qnum ||
            after.__msg_cbytes + (unsigned long)n != before.__msg_cbytes)
            mismatched_counts++;
        left++;
        note(w.sender, w.seq, intact(&w, n));
    }

    t_check("messages flowed", received > 0);
    printf("duplicates: %ld%s\n", duplicates, duplicates ? "  !! MISMATCH" : "");
    printf("corrupt: %ld%s\n", corrupt, corrupt ? "  !! MISMATCH" : "");
    if (duplicates || corrupt)
        t_failures++;
    t_check("IPC_STAT counts followed the drain", mismatched_counts == 0);
    t_check("children ended only by SIGKILL", unexpected_exits == 0);

    struct t_msg m = { .mtype = 3 }, r;
    memcpy(m.mtext, "final", 5);
    int works = msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0 && ds.__msg_cbytes == 0 &&
                msgsnd(id, &m, 5, IPC_NOWAIT) == 0 &&
                msgrcv(id, &r, sizeof r.mtext, -3, IPC_NOWAIT) == 5 && memcmp(r.mtext, "final", 5) == 0 &&
                r.mtype == 3 && msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT) == -1 && errno == ENOMSG;
    t_check("queue works", works);
    if (t_failures)
        fprintf(stderr, "sysv kill9 stress: seed %#llx, %ld kills, %ld messages received, %ld drained\n",
                (unsigned long long)seed, kills, received, left);

    msgctl(id, IPC_RMID, NULL);
    return t_finish();
}
