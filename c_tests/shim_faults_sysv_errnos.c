/* mqt: shim-only */
/* MQSHIM_FAULTS on System V calls, with errnos the kernel gives them: "msgrcv:EIDRM@1" fails the
 * first msgrcv with EIDRM (even a blocking one, at once) and the message stays (qnum, cbytes
 * unchanged; the next msgrcv gets it); "msgsnd:EAGAIN@2" fails the second msgsnd with EAGAIN
 * even without IPC_NOWAIT (the first and third are queued, the second is not);
 * "msgget:ENOSPC" fails msgget, for a new queue and for an existing key alike;
 * "msgctl:EPERM@1" fails the first msgctl (IPC_RMID): the queue is still there and the next
 * IPC_RMID removes it. Shim-only: the plain kernel has no fault injection; the test checks its
 * own expectations. */
#include "harness.h"
#include "mqt_shim.h"

static key_t key;

static void stat_line(int id)
{
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    t_say("qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
}

static int find(void)
{
    int id = msgget(key, 0);
    T_REQUIRE(id >= 0);
    return id;
}

static void phase_msgrcv(void)
{
    int id = find();
    struct t_msg m;
    stat_line(id);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, 0), EIDRM);
    stat_line(id);
    long n = EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 3);
    if (n == 3)
        t_show_typed("received", m.mtext, n, m.mtype);
    stat_line(id);
}

static void phase_msgsnd(void)
{
    int id = find();
    struct t_msg m = { .mtype = 2 };
    memcpy(m.mtext, "s1", 2);
    EXPECT_EQ(msgsnd(id, &m, 2, 0), 0);
    memcpy(m.mtext, "s2", 2);
    EXPECT_ERR(msgsnd(id, &m, 2, 0), EAGAIN);
    memcpy(m.mtext, "s3", 2);
    EXPECT_EQ(msgsnd(id, &m, 2, IPC_NOWAIT), 0);
    stat_line(id);
    for (int i = 0; i < 2; i++) {
        long n = EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 2);
        if (n == 2)
            t_show_typed("received", m.mtext, n, m.mtype);
    }
}

static void phase_msgget(void)
{
    EXPECT_ERR(msgget(IPC_PRIVATE, 0600), ENOSPC);
    EXPECT_ERR(msgget(key, 0), ENOSPC);
}

static void phase_msgctl(void)
{
    int id = find();
    EXPECT_ERR(msgctl(id, IPC_RMID, NULL), EPERM);
    stat_line(id);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    EXPECT_ERR(msgget(key, 0), ENOENT);
}

int main(int argc, char **argv)
{
    const char *phase = shim_phase(argc, argv, NULL);
    if (phase) {
        const char *k = getenv("MQT_ERRNO_KEY");
        T_REQUIRE(k && sscanf(k, "%x", (unsigned *)&key) == 1);
        if (!strcmp(phase, "msgrcv"))
            phase_msgrcv();
        else if (!strcmp(phase, "msgsnd"))
            phase_msgsnd();
        else if (!strcmp(phase, "msgget"))
            phase_msgget();
        else if (!strcmp(phase, "msgctl"))
            phase_msgctl();
        shim_phase_end();
    }
    T_REQUIRE(shim_loaded());
    int id = t_msgget_new("errnos", 0600, &key);
    char k[32];
    snprintf(k, sizeof k, "%x", (unsigned)key);
    T_REQUIRE(setenv("MQT_ERRNO_KEY", k, 1) == 0);
    struct t_msg m = { .mtype = 5 };
    memcpy(m.mtext, "abc", 3);
    EXPECT_EQ(msgsnd(id, &m, 3, 0), 0);

    static const struct { const char *phase, *spec; } phases[] = {
        { "msgrcv", "msgrcv:EIDRM@1" },
        { "msgsnd", "msgsnd:EAGAIN@2" },
        { "msgget", "msgget:ENOSPC" },
        { "msgctl", "msgctl:EPERM@1" },
    };
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        t_say("-- MQSHIM_FAULTS=%s", phases[i].spec);
        shim_run_phase(argv, "MQSHIM_FAULTS", phases[i].spec, phases[i].phase, NULL, NULL);
    }
    t_say("-- afterwards, without faults");
    EXPECT_ERR(msgget(key, 0), ENOENT);       /* the msgctl phase removed it */
    return t_finish();
}
