/* mqt: shim-only */
/* MQSHIM_FAULTS limited to one queue. "mq_send[/A]:EAGAIN" fails every mq_send to the POSIX
 * queue /A — through any descriptor opened on that name — and none to /B, nor to a queue whose
 * name only starts with /A's; after the descriptors of /A are closed, a descriptor of /B that
 * reuses the same number is not affected. "msgsnd[key=0x…]:EAGAIN" fails msgsnd on the SysV
 * queue with that key (the id comes from msgget) and not on another key;
 * "msgrcv[id=N]:EIDRM" fails msgrcv on that id only (no msgget needed). The other functions
 * on the filtered queue (mq_receive, msgrcv in the key rule) are not affected, and no failed
 * call changed a queue. (Queue names, keys and ids differ from run to run: the transcript
 * names them A, B, "A-longer", KA, KB.) Shim-only: the plain kernel has no fault injection;
 * the test checks its own expectations. */
#include "harness.h"
#include "mqt_shim.h"

static const char *name_a, *name_b, *name_a_longer;
static key_t key_a, key_b;

static long curmsgs(mqd_t q)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    T_REQUIRE(mq_getattr(q, &a) == 0);
    return a.mq_curmsgs;
}

static unsigned long qnum(int id)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    return (unsigned long)ds.msg_qnum;
}

static void phase_posix(void)
{
    mqd_t a = mq_open(name_a, O_RDWR | O_NONBLOCK);
    mqd_t b = mq_open(name_b, O_RDWR | O_NONBLOCK);
    mqd_t l = mq_open(name_a_longer, O_RDWR | O_NONBLOCK);
    T_REQUIRE(a != (mqd_t)-1 && b != (mqd_t)-1 && l != (mqd_t)-1);
    t_say("A, B and A-longer opened");
    EXPECT_ERR(mq_send(a, "a", 1, 0), EAGAIN);
    EXPECT_EQ(mq_send(b, "b", 1, 0), 0);
    EXPECT_EQ(mq_send(l, "l", 1, 0), 0);
    EXPECT_ERR(mq_send(a, "a", 1, 0), EAGAIN);
    mqd_t a2 = mq_open(name_a, O_WRONLY);
    T_REQUIRE(a2 != (mqd_t)-1);
    t_say("A opened again");
    EXPECT_ERR(mq_send(a2, "a", 1, 0), EAGAIN);
    char buf[64];
    t_say("A holds %ld, B %ld, A-longer %ld", curmsgs(a), curmsgs(b), curmsgs(l));
    t_check("A holds only the message sent before the rule", curmsgs(a) == 1);
    EXPECT_EQ(mq_receive(a, buf, sizeof buf, NULL), 1);   /* receives are not filtered */
    EXPECT_EQ(mq_close(a), 0);
    EXPECT_EQ(mq_close(a2), 0);
    mqd_t b2 = mq_open(name_b, O_RDWR | O_NONBLOCK);
    T_REQUIRE(b2 != (mqd_t)-1);
    t_check("B opened again reuses A's descriptor number", b2 == a);
    EXPECT_EQ(mq_send(b2, "b", 1, 0), 0);
    t_check("B holds 2", curmsgs(b) == 2);
    mq_close(b2);
    mq_close(b);
    mq_close(l);
}

static void phase_key(void)
{
    int ida = msgget(key_a, 0);
    int idb = msgget(key_b, 0);
    T_REQUIRE(ida >= 0 && idb >= 0);
    t_say("KA and KB found");
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "k", 1);
    EXPECT_ERR(msgsnd(ida, &m, 1, 0), EAGAIN);
    EXPECT_EQ(msgsnd(idb, &m, 1, 0), 0);
    EXPECT_ERR(msgsnd(ida, &m, 1, IPC_NOWAIT), EAGAIN);
    EXPECT_EQ(msgsnd(idb, &m, 1, IPC_NOWAIT), 0);
    t_check("KA holds 1 (sent before), KB 2", qnum(ida) == 1 && qnum(idb) == 2);
    EXPECT_EQ(msgrcv(ida, &m, sizeof m.mtext, 0, IPC_NOWAIT), 1);  /* not filtered */
}

static void phase_id(const char *arg)
{
    int ida = msgget(key_a, 0);
    int idb = atoi(arg);        /* no msgget for KB: the id alone */
    T_REQUIRE(ida >= 0);
    struct t_msg m;
    EXPECT_ERR(msgrcv(idb, &m, sizeof m.mtext, 0, IPC_NOWAIT), EIDRM);
    EXPECT_ERR(msgrcv(idb, &m, sizeof m.mtext, 0, 0), EIDRM);
    t_check("KB still holds 2", qnum(idb) == 2);
    m.mtype = 1;
    memcpy(m.mtext, "i", 1);
    EXPECT_EQ(msgsnd(ida, &m, 1, 0), 0);
    EXPECT_EQ(msgrcv(ida, &m, sizeof m.mtext, 0, IPC_NOWAIT), 1);
    EXPECT_EQ(msgsnd(idb, &m, 1, 0), 0);
    t_check("KB holds 3", qnum(idb) == 3);
}

int main(int argc, char **argv)
{
    name_a = t_qname("fa");
    name_b = t_qname("fb");
    name_a_longer = t_qname("fa-longer");
    char keys[64];
    const char *arg = NULL;
    const char *phase = shim_phase(argc, argv, &arg);
    if (phase) {
        const char *k = getenv("MQT_FILTER_KEYS");
        T_REQUIRE(k && sscanf(k, "%x %x", (unsigned *)&key_a, (unsigned *)&key_b) == 2);
        if (!strcmp(phase, "posix"))
            phase_posix();
        else if (!strcmp(phase, "key"))
            phase_key();
        else if (!strcmp(phase, "id") && arg)
            phase_id(arg);
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    mqd_t a = t_mq_create("fa", 10, 16, O_NONBLOCK);
    mqd_t b = t_mq_create("fb", 10, 16, O_NONBLOCK);
    mqd_t l = t_mq_create("fa-longer", 10, 16, O_NONBLOCK);
    EXPECT_EQ(mq_send(a, "0", 1, 0), 0);
    int ida = t_msgget_new("fka", 0600, &key_a);
    int idb = t_msgget_new("fkb", 0600, &key_b);
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "0", 1);
    EXPECT_EQ(msgsnd(ida, &m, 1, 0), 0);
    snprintf(keys, sizeof keys, "%x %x", (unsigned)key_a, (unsigned)key_b);
    T_REQUIRE(setenv("MQT_FILTER_KEYS", keys, 1) == 0);

    char spec[512], id[32];
    t_say("-- MQSHIM_FAULTS=mq_send[A]:EAGAIN");
    snprintf(spec, sizeof spec, "mq_send[%s]:EAGAIN", name_a);
    shim_run_phase(argv, "MQSHIM_FAULTS", spec, "posix", NULL, NULL);

    t_say("-- MQSHIM_FAULTS=msgsnd[key=KA]:EAGAIN");
    snprintf(spec, sizeof spec, "msgsnd[key=0x%08x]:EAGAIN", (unsigned)key_a);
    shim_run_phase(argv, "MQSHIM_FAULTS", spec, "key", NULL, NULL);

    t_say("-- MQSHIM_FAULTS=msgrcv[id=<KB's id>]:EIDRM");
    snprintf(spec, sizeof spec, "msgrcv[id=%d]:EIDRM", idb);
    snprintf(id, sizeof id, "%d", idb);
    shim_run_phase(argv, "MQSHIM_FAULTS", spec, "id", id, NULL);

    t_say("-- afterwards, without faults");
    t_check("A is empty", curmsgs(a) == 0);
    t_check("B holds 2", curmsgs(b) == 2);
    t_check("A-longer holds 1", curmsgs(l) == 1);
    t_check("KA is empty", qnum(ida) == 0);
    t_check("KB holds 3", qnum(idb) == 3);
    EXPECT_EQ(mq_close(a), 0);
    EXPECT_EQ(mq_close(b), 0);
    EXPECT_EQ(mq_close(l), 0);
    EXPECT_EQ(mq_unlink(name_a), 0);
    EXPECT_EQ(mq_unlink(name_b), 0);
    EXPECT_EQ(mq_unlink(name_a_longer), 0);
    EXPECT_EQ(msgctl(ida, IPC_RMID, NULL), 0);
    EXPECT_EQ(msgctl(idb, IPC_RMID, NULL), 0);
    return t_finish();
}
