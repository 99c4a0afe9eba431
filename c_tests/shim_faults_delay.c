/* mqt: shim-only */
/* MQSHIM_FAULTS delays: "mq_send:delay=50ms" makes each mq_send take at least 50 ms and then
 * succeed (the message is there); "mq_send:delay=50ms+EAGAIN@2" delays the 2nd send at least
 * 50 ms and then fails it with EAGAIN, having sent nothing (the 1st and 3rd succeed);
 * "msgrcv:delay=50ms" delays msgrcv, which then receives the message. Elapsed times are
 * measured on CLOCK_MONOTONIC and printed only as "at least 50 ms: yes/no" (no upper bound is
 * checked: a loaded machine may be slow). Shim-only: the plain kernel has no fault injection;
 * the test checks its own expectations. */
#include "harness.h"
#include "mqt_shim.h"

#define DELAY_NS 50000000LL

static const char *qname;
static key_t key;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long curmsgs(mqd_t q)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    T_REQUIRE(mq_getattr(q, &a) == 0);
    return a.mq_curmsgs;
}

static void phase_send_delay(void)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    long long t0 = now_ns();
    EXPECT_EQ(mq_send(q, "d", 1, 0), 0);
    t_check("mq_send took at least 50 ms", now_ns() - t0 >= DELAY_NS);
    t_check("and the message is there", curmsgs(q) == 1);
    char buf[64];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    mq_close(q);
}

static void phase_delay_then_fail(void)
{
    mqd_t q = mq_open(qname, O_RDWR | O_NONBLOCK);
    T_REQUIRE(q != (mqd_t)-1);
    EXPECT_EQ(mq_send(q, "1", 1, 0), 0);
    long long t0 = now_ns();
    EXPECT_ERR(mq_send(q, "2", 1, 0), EAGAIN);
    t_check("the failing mq_send took at least 50 ms", now_ns() - t0 >= DELAY_NS);
    t_check("and sent nothing", curmsgs(q) == 1);
    EXPECT_EQ(mq_send(q, "3", 1, 0), 0);
    t_check("curmsgs is 2", curmsgs(q) == 2);
    char buf[64];
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    EXPECT_EQ(mq_receive(q, buf, sizeof buf, NULL), 1);
    mq_close(q);
}

static void phase_msgrcv_delay(void)
{
    int id = msgget(key, 0);
    T_REQUIRE(id >= 0);
    struct t_msg m;
    long long t0 = now_ns();
    long n = EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 5);
    t_check("msgrcv took at least 50 ms", now_ns() - t0 >= DELAY_NS);
    if (n == 5)
        t_show_typed("received", m.mtext, n, m.mtype);
}

int main(int argc, char **argv)
{
    qname = t_qname("delay");
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase) {
        const char *k = getenv("MQT_DELAY_KEY");
        T_REQUIRE(k && sscanf(k, "%x", (unsigned *)&key) == 1);
        if (!strcmp(phase, "send"))
            phase_send_delay();
        else if (!strcmp(phase, "fail"))
            phase_delay_then_fail();
        else if (!strcmp(phase, "msgrcv"))
            phase_msgrcv_delay();
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    mqd_t q = t_mq_create("delay", 10, 16, O_NONBLOCK);
    int id = t_msgget_new("delay", 0600, &key);
    char k[32];
    snprintf(k, sizeof k, "%x", (unsigned)key);
    T_REQUIRE(setenv("MQT_DELAY_KEY", k, 1) == 0);
    struct t_msg m = { .mtype = 7 };
    memcpy(m.mtext, "later", 5);
    EXPECT_EQ(msgsnd(id, &m, 5, 0), 0);

    t_say("-- MQSHIM_FAULTS=mq_send:delay=50ms");
    shim_run_phase(argv, "MQSHIM_FAULTS", "mq_send:delay=50ms", "send", NULL, NULL);
    t_say("-- MQSHIM_FAULTS=mq_send:delay=50ms+EAGAIN@2");
    shim_run_phase(argv, "MQSHIM_FAULTS", "mq_send:delay=50ms+EAGAIN@2", "fail", NULL, NULL);
    t_say("-- MQSHIM_FAULTS=msgrcv:delay=50ms");
    shim_run_phase(argv, "MQSHIM_FAULTS", "msgrcv:delay=50ms", "msgrcv", NULL, NULL);

    t_check("the POSIX queue is empty", curmsgs(q) == 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_unlink(qname), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
