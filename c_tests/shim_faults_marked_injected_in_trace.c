/* mqt: shim-only */
/* Injected calls are marked in the jsonl trace: with "mq_send:EAGAIN@2;msgrcv:EIDRM@1", the
 * trace records of the phase's process (found by its pid in the file run.sh names in
 * MQSHIM_TRACE) hold exactly two with "injected":true — the 2nd mq_send, with "ret":-1 and
 * "errno":"EAGAIN", and the 1st msgrcv, with "errno":"EIDRM" — and every other record (the
 * successful calls, and a real EAGAIN from a full queue) has no "injected" field; none has
 * "delayed". An injected delay is marked apart: with "mq_send:delay=1ms" the one mq_send's
 * record has "delayed":true, "errno":null and no "injected" (no errno was injected), and no
 * other record is marked; with "mq_send:delay=1ms+EAGAIN" the mq_send's record has both marks
 * and "errno":"EAGAIN". Shim-only: the plain kernel has no fault injection or trace; the test
 * checks its own expectations. */
#include "harness.h"
#include "mqt_shim.h"

static const char *qname;
static key_t key;

static void phase_fail(void)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    EXPECT_EQ(mq_send(q, "1", 1, 0), 0);
    EXPECT_ERR(mq_send(q, "2", 1, 0), EAGAIN);          /* injected */
    EXPECT_ERR(mq_send(q, "3", 1, 0), EAGAIN);          /* real: the queue holds 1 */
    char buf[64];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    mq_close(q);
    int id = msgget(key, 0);
    T_REQUIRE(id >= 0);
    struct t_msg m;
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), EIDRM);  /* injected */
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), ENOMSG); /* real */
}

/* One mq_send, failed by the delay-and-errno rule. */
static void phase_delay_and_errno(void)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    EXPECT_ERR(mq_send(q, "e", 1, 0), EAGAIN);          /* delayed, then injected */
    mq_close(q);
}

static void phase_delay(void)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    EXPECT_EQ(mq_send(q, "d", 1, 0), 0);
    char buf[64];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    mq_close(q);
}

/* The trace file's records written by `pid`: checks and prints a summary. */
struct summary {
    int records, injected, injected_send_eagain, injected_msgrcv_eidrm, injected_other;
    int delayed, delayed_send_ok, delayed_send_eagain, delayed_other;
};

static struct summary read_trace(pid_t pid)
{
    struct summary s;
    memset(&s, 0, sizeof s);
    const char *path = getenv("MQSHIM_TRACE");
    T_REQUIRE(path && strchr(path, '/') && !strstr(path, "%p"));
    FILE *f = fopen(path, "r");
    T_REQUIRE(f != NULL);
    char pidkey[48];
    snprintf(pidkey, sizeof pidkey, "\"pid\":%d,", (int)pid);
    static char line[65536];
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, pidkey))
            continue;
        s.records++;
        if (strstr(line, "\"delayed\"")) {
            s.delayed++;
            int is_true = strstr(line, "\"delayed\":true") != NULL;
            int injected = strstr(line, "\"injected\":true") != NULL;
            int send = strstr(line, "\"call\":\"mq_send\"") != NULL;
            if (is_true && send && !injected && strstr(line, "\"errno\":null"))
                s.delayed_send_ok++;
            else if (is_true && send && injected && strstr(line, "\"errno\":\"EAGAIN\""))
                s.delayed_send_eagain++;
            else
                s.delayed_other++;
        }
        if (!strstr(line, "\"injected\""))
            continue;
        s.injected++;
        int is_true = strstr(line, "\"injected\":true") != NULL;
        if (is_true && strstr(line, "\"call\":\"mq_send\"") && strstr(line, "\"ret\":-1")
            && strstr(line, "\"errno\":\"EAGAIN\""))
            s.injected_send_eagain++;
        else if (is_true && strstr(line, "\"call\":\"msgrcv\"") && strstr(line, "\"ret\":-1")
                 && strstr(line, "\"errno\":\"EIDRM\""))
            s.injected_msgrcv_eidrm++;
        else if (is_true && strstr(line, "\"delayed\":true") && strstr(line, "\"call\":\"mq_send\""))
            ;                                           /* the delay-and-errno phase's: counted above */
        else
            s.injected_other++;
    }
    fclose(f);
    return s;
}

int main(int argc, char **argv)
{
    qname = t_qname("marked");
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase) {
        const char *k = getenv("MQT_MARKED_KEY");
        T_REQUIRE(k && sscanf(k, "%x", (unsigned *)&key) == 1);
        if (!strcmp(phase, "fail"))
            phase_fail();
        else if (!strcmp(phase, "delay-and-errno"))
            phase_delay_and_errno();
        else
            phase_delay();
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    const char *fmt = getenv("MQSHIM_TRACE_FORMAT");
    T_REQUIRE(fmt && strcmp(fmt, "jsonl") == 0);
    mqd_t q = t_mq_create("marked", 1, 16, 0);
    int id = t_msgget_new("marked", 0600, &key);
    char k[32];
    snprintf(k, sizeof k, "%x", (unsigned)key);
    T_REQUIRE(setenv("MQT_MARKED_KEY", k, 1) == 0);

    t_say("-- MQSHIM_FAULTS=mq_send:EAGAIN@2;msgrcv:EIDRM@1");
    pid_t pid = shim_run_phase(argv, "MQSHIM_FAULTS", "mq_send:EAGAIN@2;msgrcv:EIDRM@1", "fail",
                               NULL, NULL);
    struct summary s = read_trace(pid);
    t_say("the phase's records: %d, marked injected: %d", s.records, s.injected);
    t_check("every call of the phase has a record (9)", s.records == 9);
    t_check("the injected mq_send is marked, with ret -1 and EAGAIN", s.injected_send_eagain == 1);
    t_check("the injected msgrcv is marked, with ret -1 and EIDRM", s.injected_msgrcv_eidrm == 1);
    t_check("no other record is marked", s.injected == 2 && s.injected_other == 0);
    t_check("no record is marked delayed", s.delayed == 0);

    t_say("-- MQSHIM_FAULTS=mq_send:delay=1ms");
    pid = shim_run_phase(argv, "MQSHIM_FAULTS", "mq_send:delay=1ms", "delay", NULL, NULL);
    s = read_trace(pid);
    t_say("the phase's records: %d, marked delayed: %d, marked injected: %d", s.records,
          s.delayed, s.injected);
    t_check("every call of the phase has a record (4)", s.records == 4);
    t_check("the delayed mq_send is marked delayed, succeeded, and is not marked injected",
            s.delayed_send_ok == 1);
    t_check("no other record is marked", s.delayed == 1 && s.injected == 0);

    t_say("-- MQSHIM_FAULTS=mq_send:delay=1ms+EAGAIN");
    pid = shim_run_phase(argv, "MQSHIM_FAULTS", "mq_send:delay=1ms+EAGAIN", "delay-and-errno",
                         NULL, NULL);
    s = read_trace(pid);
    t_say("the phase's records: %d, marked delayed: %d, marked injected: %d", s.records,
          s.delayed, s.injected);
    t_check("every call of the phase has a record (3)", s.records == 3);
    t_check("the mq_send is marked delayed and injected, with EAGAIN", s.delayed_send_eagain == 1);
    t_check("no other record is marked", s.delayed == 1 && s.injected == 1 && s.delayed_other == 0
            && s.injected_other == 0);

    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(qname), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
