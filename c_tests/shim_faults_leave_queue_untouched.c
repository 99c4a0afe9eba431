/* mqt: shim-only */
/* An injected failure leaves the queue untouched. POSIX, with "a" (prio 1) and "b" (prio 2)
 * queued: an injected mq_send / mq_timedsend failure sends nothing (curmsgs unchanged), even on
 * a full queue it returns at once instead of blocking; an injected mq_receive /
 * mq_timedreceive failure removes nothing (curmsgs unchanged, and the next receive still gets
 * "b", the highest priority). System V, with one message queued: an injected msgrcv failure
 * removes nothing (qnum and cbytes unchanged, the next msgrcv gets it), an injected msgsnd
 * failure queues nothing. Afterwards, without faults, the queues hold exactly what the
 * successful calls left. Shim-only: the plain kernel has no fault injection; the test checks
 * its own expectations. */
#include "harness.h"
#include "mqt_shim.h"

/* The mq_timedsend and mq_timedreceive rules count the mq_send and mq_receive calls too (they
 * are the same system calls): the timed calls are the 3rd and the 2nd those rules see. */
#define SPEC "mq_send:EAGAIN@2; mq_timedsend:ETIMEDOUT@3; mq_receive:EINTR@1; " \
             "mq_timedreceive:EAGAIN@2; msgrcv:EINTR@1; msgsnd:EIDRM@1"

static const char *qname, *fullname;
static key_t key;

static long curmsgs(mqd_t q)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    T_REQUIRE(mq_getattr(q, &a) == 0);
    t_say("curmsgs %ld", a.mq_curmsgs);
    return a.mq_curmsgs;
}

static void stat_line(int id)
{
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    t_say("qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
}

static void phase(void)
{
    mqd_t q = mq_open(qname, O_RDWR);                   /* blocking */
    mqd_t full = mq_open(fullname, O_RDWR);             /* blocking, full */
    T_REQUIRE(q != (mqd_t)-1 && full != (mqd_t)-1);
    char buf[64];
    unsigned prio = 0;
    struct timespec later = t_deadline_ms(10000);

    t_say("-- POSIX sends");
    curmsgs(q);
    EXPECT_EQ(mq_send(q, "c", 1, 0), 0);                       /* 1st mq_send */
    EXPECT_ERR(mq_send(full, "x", 1, 0), EAGAIN);              /* 2nd: full, yet no block */
    t_check("the full queue still holds one", curmsgs(full) == 1);
    EXPECT_ERR(mq_timedsend(q, "d", 1, 0, &later), ETIMEDOUT);
    t_check("nothing was sent by the failed sends", curmsgs(q) == 3);

    t_say("-- POSIX receives");
    EXPECT_ERR(mq_receive(q, buf, sizeof buf, &prio), EINTR);
    EXPECT_ERR(mq_timedreceive(q, buf, sizeof buf, &prio, &later), EAGAIN);
    t_check("nothing was removed by the failed receives", curmsgs(q) == 3);
    long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 1);
    if (n == 1)
        t_show_msg("received", buf, n, prio);

    t_say("-- System V");
    int id = msgget(key, 0);
    T_REQUIRE(id >= 0);
    struct t_msg m;
    stat_line(id);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, 0), EINTR);
    stat_line(id);
    m.mtype = 9;
    memcpy(m.mtext, "new", 3);
    EXPECT_ERR(msgsnd(id, &m, 3, 0), EIDRM);
    stat_line(id);
    n = EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 3);
    if (n == 3)
        t_show_typed("received", m.mtext, n, m.mtype);
    mq_close(q);
    mq_close(full);
}

int main(int argc, char **argv)
{
    qname = t_qname("untouched");
    fullname = t_qname("full");
    if (shim_phase(argc, argv, NULL)) {
        const char *k = getenv("MQT_UNTOUCHED_KEY");
        T_REQUIRE(k && sscanf(k, "%x", (unsigned *)&key) == 1);
        phase();
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    mqd_t q = t_mq_create("untouched", 10, 16, 0);
    mqd_t full = t_mq_create("full", 1, 16, 0);
    EXPECT_EQ(mq_send(q, "a", 1, 1), 0);
    EXPECT_EQ(mq_send(q, "b", 1, 2), 0);
    EXPECT_EQ(mq_send(full, "f", 1, 0), 0);
    int id = t_msgget_new("untouched", 0600, &key);
    char k[32];
    snprintf(k, sizeof k, "%x", (unsigned)key);
    T_REQUIRE(setenv("MQT_UNTOUCHED_KEY", k, 1) == 0);
    struct t_msg m = { .mtype = 4 };
    memcpy(m.mtext, "old", 3);
    EXPECT_EQ(msgsnd(id, &m, 3, 0), 0);

    t_say("-- MQSHIM_FAULTS=%s", SPEC);
    shim_run_phase(argv, "MQSHIM_FAULTS", SPEC, "all", NULL, NULL);

    t_say("-- afterwards, without faults");
    struct mq_attr a;
    EXPECT_EQ(mq_getattr(full, &a), 0);
    t_check("the full queue holds its one message", a.mq_curmsgs == 1);
    char buf[64];
    unsigned prio;
    for (int i = 0; i < 2; i++) {
        long n = EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 1);
        if (n == 1)
            t_show_msg("left", buf, n, prio);
    }
    EXPECT_EQ(mq_getattr(q, &a), 0);
    t_check("the POSIX queue is now empty", a.mq_curmsgs == 0);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_check("the System V queue is empty", ds.msg_qnum == 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_close(full), 0);
    EXPECT_EQ(mq_unlink(qname), 0);
    EXPECT_EQ(mq_unlink(fullname), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
