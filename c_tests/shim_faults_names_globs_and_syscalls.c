/* mqt: shim-only */
/* MQSHIM_FAULTS names functions as strace users write them (each phase re-executes the test with
 * one specification). A system call's name stands for every function that makes it:
 * "mq_timedsend:EAGAIN;mq_timedreceive:ETIMEDOUT" fails mq_send as well as mq_timedsend (glibc's
 * mq_send is the mq_timedsend system call) and mq_receive as well as mq_timedreceive — on an
 * empty non-blocking queue, where the real answer would be EAGAIN; "mq_getsetattr:EBADF" fails
 * mq_getattr and mq_setattr; "ipc:EIDRM" fails msgsnd, msgrcv and msgctl but not msgget (which
 * cannot return EIDRM). Globs match anywhere and lists combine: "mq_*send:EBADF" fails mq_send
 * and mq_timedsend, not mq_receive (the real EAGAIN); "*receive,msg?nd:EINTR" fails mq_receive,
 * mq_timedreceive and msgsnd, not mq_send nor msgrcv (the real ENOMSG). Durations take units and
 * decimals: with "mq_timedsend:delay=0.05s;msgrcv:delay=1.5ms" mq_send takes at least 50 ms and
 * succeeds, msgrcv at least 1.5 ms, and in the jsonl trace exactly those two records of the
 * phase are marked "delayed":true (and not "injected"). A rule naming no function mqshim
 * intercepts ("mq_send,close:EBADF") or a duration without a unit ("delay=100") is reported on
 * stderr once, saying it is ignored, and injects nothing. Shim-only: the plain kernel has no
 * fault injection; each phase checks its own expectations (and the two shim configurations must
 * agree). */
#include "harness.h"
#include "mqt_shim.h"

static const char *qname;
static key_t key;

static mqd_t open_q(void)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    return q;
}

static long curmsgs(mqd_t q)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    EXPECT_EQ(mq_getattr(q, &a), 0);
    return a.mq_curmsgs;
}

static struct timespec in_seconds(int s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += s;
    return ts;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int sysv_id(void)
{
    int id = msgget(key, 0);
    T_REQUIRE(id >= 0);
    return id;
}

static void phase_syscall_names(void)
{
    mqd_t q = open_q();
    char buf[64];
    struct timespec due = in_seconds(5);
    EXPECT_ERR(mq_send(q, "s", 1, 0), EAGAIN);
    EXPECT_ERR(mq_timedsend(q, "t", 1, 0, &due), EAGAIN);
    t_check("nothing was sent", curmsgs(q) == 0);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), ETIMEDOUT);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &due), ETIMEDOUT);
    mq_close(q);
}

static void phase_getsetattr(void)
{
    mqd_t q = open_q();
    struct mq_attr a, old;
    memset(&a, 0, sizeof a);
    a.mq_flags = O_NONBLOCK;
    EXPECT_ERR(mq_getattr(q, &old), EBADF);
    EXPECT_ERR(mq_setattr(q, &a, &old), EBADF);
    EXPECT_EQ(mq_send(q, "g", 1, 0), 0);
    char buf[64];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    mq_close(q);
}

static void phase_ipc(void)
{
    int id = sysv_id();                                 /* msgget: not failed */
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "i", 1);
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EIDRM);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), EIDRM);
    struct msqid_ds ds;
    EXPECT_ERR(msgctl(id, IPC_STAT, &ds), EIDRM);
    mqd_t q = open_q();
    EXPECT_EQ(mq_send(q, "p", 1, 0), 0);                /* POSIX calls: not named */
    char buf[64];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    mq_close(q);
}

static void phase_glob_in_the_middle(void)
{
    mqd_t q = open_q();
    char buf[64];
    struct timespec due = in_seconds(5);
    EXPECT_ERR(mq_send(q, "s", 1, 0), EBADF);
    EXPECT_ERR(mq_timedsend(q, "t", 1, 0, &due), EBADF);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EAGAIN);   /* real: the queue is empty */
    t_check("nothing was sent", curmsgs(q) == 0);
    mq_close(q);
}

static void phase_list(void)
{
    mqd_t q = open_q();
    char buf[64];
    struct timespec due = in_seconds(5);
    EXPECT_EQ(mq_send(q, "l", 1, 0), 0);
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, NULL), EINTR);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, NULL, &due), EINTR);
    t_check("the message is still there", curmsgs(q) == 1);
    int id = sysv_id();
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "v", 1);
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EINTR);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), ENOMSG);   /* real */
    mq_close(q);
}

static void phase_delays(void)
{
    mqd_t q = open_q();
    long long t0 = now_ns();
    EXPECT_EQ(mq_send(q, "d", 1, 0), 0);
    t_check("mq_send took at least 50 ms", now_ns() - t0 >= 50000000LL);
    char buf[64];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    mq_close(q);
    int id = sysv_id();
    struct t_msg m;
    t0 = now_ns();
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), ENOMSG);
    t_check("msgrcv took at least 1.5 ms", now_ns() - t0 >= 1500000LL);
}

static void phase_refused(void)
{
    mqd_t q = open_q();
    char buf[64];
    for (int i = 0; i < 2; i++) {
        EXPECT_EQ(mq_send(q, "r", 1, 0), 0);
        EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    }
    mq_close(q);
}

/* The records `pid` wrote to the jsonl trace: how many, how many marked delayed, and whether
 * those are the mq_send (succeeded) and the msgrcv, neither marked injected. */
static void check_delays_in_trace(pid_t pid)
{
    const char *path = getenv("MQSHIM_TRACE");
    T_REQUIRE(path && strchr(path, '/') && !strstr(path, "%p"));
    FILE *f = fopen(path, "r");
    T_REQUIRE(f != NULL);
    char pidkey[48];
    snprintf(pidkey, sizeof pidkey, "\"pid\":%d,", (int)pid);
    static char line[65536];
    int records = 0, delayed = 0, send = 0, rcv = 0, injected = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, pidkey))
            continue;
        records++;
        injected += strstr(line, "\"injected\"") != NULL;
        if (!strstr(line, "\"delayed\":true"))
            continue;
        delayed++;
        send += strstr(line, "\"call\":\"mq_send\"") && strstr(line, "\"errno\":null");
        rcv += strstr(line, "\"call\":\"msgrcv\"") && strstr(line, "\"errno\":\"ENOMSG\"");
    }
    fclose(f);
    t_say("the phase's records: %d, marked delayed: %d", records, delayed);
    t_check("every call of the phase has a record (6)", records == 6);
    t_check("the mq_send and the msgrcv are marked delayed, and only they", delayed == 2 && send == 1 && rcv == 1);
    t_check("no record is marked injected", injected == 0);
}

int main(int argc, char **argv)
{
    qname = t_qname("names");
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase) {
        const char *k = getenv("MQT_NAMES_KEY");
        T_REQUIRE(k && sscanf(k, "%x", (unsigned *)&key) == 1);
        if (!strcmp(phase, "syscall"))
            phase_syscall_names();
        else if (!strcmp(phase, "getsetattr"))
            phase_getsetattr();
        else if (!strcmp(phase, "ipc"))
            phase_ipc();
        else if (!strcmp(phase, "glob"))
            phase_glob_in_the_middle();
        else if (!strcmp(phase, "list"))
            phase_list();
        else if (!strcmp(phase, "delays"))
            phase_delays();
        else if (!strcmp(phase, "refused"))
            phase_refused();
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    const char *fmt = getenv("MQSHIM_TRACE_FORMAT");
    T_REQUIRE(fmt && strcmp(fmt, "jsonl") == 0);
    mqd_t q = t_mq_create("names", 10, 16, O_NONBLOCK);
    int id = t_msgget_new("names", 0600, &key);
    char k[32];
    snprintf(k, sizeof k, "%x", (unsigned)key);
    T_REQUIRE(setenv("MQT_NAMES_KEY", k, 1) == 0);

    static const struct { const char *phase, *spec; } phases[] = {
        { "syscall", "mq_timedsend:EAGAIN;mq_timedreceive:ETIMEDOUT" },
        { "getsetattr", "mq_getsetattr:EBADF" },
        { "ipc", "ipc:EIDRM" },
        { "glob", "mq_*send:EBADF" },
        { "list", "*receive,msg?nd:EINTR" },
    };
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        t_say("-- MQSHIM_FAULTS=%s", phases[i].spec);
        shim_run_phase(argv, "MQSHIM_FAULTS", phases[i].spec, phases[i].phase, NULL, NULL);
    }
    t_say("-- without faults: the list phase's message is there");
    char buf[64];
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    if (n == 1)
        t_show_msg("left", buf, n, 0);

    const char *delays = "mq_timedsend:delay=0.05s;msgrcv:delay=1.5ms";
    t_say("-- MQSHIM_FAULTS=%s", delays);
    check_delays_in_trace(shim_run_phase(argv, "MQSHIM_FAULTS", delays, "delays", NULL, NULL));

    const char *refused = "mq_send,close:EBADF;mq_send:delay=100";
    t_say("-- MQSHIM_FAULTS=%s", refused);
    static struct shim_capture cap;
    shim_run_phase(argv, "MQSHIM_FAULTS", refused, "refused", NULL, &cap);
    t_check("'close' is reported once, as ignored",
            shim_count_lines(cap.err, "'close' is not a function mqshim intercepts; ignored") == 1);
    t_check("the unitless delay is reported once, as ignored",
            shim_count_lines(cap.err, "'100' has no unit") == 1 && shim_count_lines(cap.err, "; ignored") == 2);

    t_check("the POSIX queue is empty", curmsgs(q) == 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(qname), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
