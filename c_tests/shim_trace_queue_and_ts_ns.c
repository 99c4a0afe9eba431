/* mqt: shim-only */
/* jsonl trace records name the POSIX queue and give the start time in ns: in the records of a
 * phase child (found by its pid in the file run.sh names in MQSHIM_TRACE), mq_open and
 * mq_unlink carry "queue" = their name argument (a failed mq_open too), and the calls on the
 * descriptor mq_open returned — mq_send, mq_getattr, mq_receive, mq_close — carry the name it
 * was opened with (and, under the emulation, which follows dup2, an mq_getattr on a duplicate
 * of it); an mq_send on that descriptor after mq_close (EBADF) carries none, nor do System V
 * calls. Every record has an integer "ts_ns" that is the same instant as its "ts"
 * (ISO 8601 UTC with nanoseconds). Shim-only: the plain kernel writes no trace; the test checks
 * its own expectations. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_shim.h"

static const char *qname, *absent;
/* Where the phase child duplicates its queue descriptor (dup2). */
#define DUP_FD 900
static key_t key;

static void phase_calls(void)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    EXPECT_EQ(mq_send(q, "a", 1, 0), 0);
    struct mq_attr a;
    EXPECT_EQ(mq_getattr(q, &a), 0);
    T_REQUIRE(dup2(q, DUP_FD) == DUP_FD);
    EXPECT_EQ(mq_getattr(DUP_FD, &a), 0);
    EXPECT_EQ(close(DUP_FD), 0);
    char buf[64];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_ERR(mq_send(q, "b", 1, 0), EBADF);
    EXPECT_ERR(mq_open(absent, O_RDONLY), ENOENT);
    int id = msgget(key, 0);
    T_REQUIRE(id >= 0);
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "s", 1);
    EXPECT_EQ(msgsnd(id, &m, 1, 0), 0);
    EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 1);
}

struct summary {
    int records, with_queue, queue_named, queue_absent, ts_ns_ok, sysv_with_queue, ebadf_with_queue;
    int dup_with_queue;
};

/* Whether the record's "ts_ns" is the instant its "ts" names. */
static int ts_ns_matches_ts(const char *line)
{
    const char *ts = strstr(line, "\"ts\":\"");
    const char *ns = strstr(line, "\"ts_ns\":");
    if (!ts || !ns)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    long nsec = -1;
    int used = 0;
    if (sscanf(ts + 6, "%4d-%2d-%2dT%2d:%2d:%2d.%9ld%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &nsec, &used) != 7 || ts[6 + used] != 'Z')
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    long long want = (long long)timegm(&tm) * 1000000000LL + nsec;
    char *end;
    long long got = strtoll(ns + 8, &end, 10);
    return (*end == ',' || *end == '}') && got == want;
}

static struct summary read_trace(pid_t pid)
{
    struct summary s;
    memset(&s, 0, sizeof s);
    const char *path = getenv("MQSHIM_TRACE");
    T_REQUIRE(path && strchr(path, '/') && !strstr(path, "%p"));
    FILE *f = fopen(path, "r");
    T_REQUIRE(f != NULL);
    char pidkey[48], named[400], missing[400], dup_getattr[80];
    snprintf(dup_getattr, sizeof dup_getattr, "\"args\":{\"mqdes\":%d,", DUP_FD);
    snprintf(pidkey, sizeof pidkey, "\"pid\":%d,", (int)pid);
    snprintf(named, sizeof named, "\"queue\":\"%s\",", qname);
    snprintf(missing, sizeof missing, "\"queue\":\"%s\",", absent);
    static char line[65536];
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, pidkey))
            continue;
        s.records++;
        s.ts_ns_ok += ts_ns_matches_ts(line);
        int queue = strstr(line, "\"queue\":") != NULL;
        s.with_queue += queue;
        s.queue_named += strstr(line, named) != NULL;
        s.queue_absent += strstr(line, missing) != NULL;
        if (queue && strstr(line, "\"call\":\"msg"))
            s.sysv_with_queue++;
        if (queue && strstr(line, "\"errno\":\"EBADF\""))
            s.ebadf_with_queue++;
        if (queue && strstr(line, "\"call\":\"mq_getattr\"") && strstr(line, dup_getattr))
            s.dup_with_queue++;
    }
    fclose(f);
    return s;
}

int main(int argc, char **argv)
{
    qname = t_qname("queue-named");
    absent = t_qname("queue-absent");
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase) {
        const char *k = getenv("MQT_QUEUE_KEY");
        T_REQUIRE(k && sscanf(k, "%x", (unsigned *)&key) == 1);
        phase_calls();
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    const char *fmt = getenv("MQSHIM_TRACE_FORMAT");
    T_REQUIRE(fmt && strcmp(fmt, "jsonl") == 0);
    mqd_t q = t_mq_create("queue-named", 4, 16, 0);
    int id = t_msgget_new("queue-named", 0600, &key);
    char k[32];
    snprintf(k, sizeof k, "%x", (unsigned)key);
    T_REQUIRE(setenv("MQT_QUEUE_KEY", k, 1) == 0);

    /* A backend whose queue descriptors are its own (the emulation, Redis) follows dup2. */
    int emulated = strcmp(((__typeof__(mqshim_backend) *)shim_symbol("mqshim_backend"))(), "kernel") != 0;

    pid_t pid = shim_run_phase(argv, "MQSHIM_FAULTS", NULL, "calls", NULL, NULL);
    struct summary s = read_trace(pid);
    t_say("the phase's records: %d", s.records);
    t_check("every call of the phase has a record (11)", s.records == 11);
    t_check("mq_open and the calls on its descriptor (5) name the queue",
            s.queue_named - s.dup_with_queue == 5);
    t_check("the failed mq_open names the queue it asked for", s.queue_absent == 1);
    /* The emulation follows dup2 (its queue descriptors must be followed anyway); under the
     * kernel backend it is not intercepted, so a duplicate's calls name no queue. */
    t_check("a dup2's mq_getattr names the queue under the emulation, none under the kernel",
            s.dup_with_queue == emulated);
    t_check("no other record has a queue (EBADF, System V)",
            s.with_queue == 6 + emulated && s.sysv_with_queue == 0 && s.ebadf_with_queue == 0);
    t_check("every record's ts_ns is its ts", s.ts_ns_ok == s.records);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(qname), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
