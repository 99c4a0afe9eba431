/* msgmni = 3 (the kernel in a fresh IPC namespace with /proc/sys/kernel/msgmni 3; mqshim with
 * MQSHIM_LIMITS=msgmni=3, in a fresh IPC namespace too, so that the kernel's queue count is
 * this test's alone): in a namespace with no queue three msgget creates succeed and the
 * fourth is ENOSPC, exactly at the boundary — on a new key and with IPC_PRIVATE. At the limit,
 * msgget of an existing key still succeeds, with or without IPC_CREAT (nothing is created),
 * and IPC_CREAT|IPC_EXCL on it is EEXIST, not ENOSPC. After IPC_RMID of one queue a create
 * succeeds again, and then the next is ENOSPC. IPC_INFO reports msgmni 3. */
#include "harness.h"
#include "mqt_limits.h"

/* A per-run key that is not in use (the harness's keys are per run too). */
static key_t fresh_key(const char *tag)
{
    uint32_t h = t_fnv1a(tag, t_fnv1a(t_runid, 2166136261u));
    return (key_t)(0x70000000u + h % 0x0fffffffu);
}

static void body(void)
{
    key_t k1;
    int q1 = t_msgget_new("mni1", 0600, &k1);
    int q2 = t_msgget_new("mni2", 0600, NULL);
    int q3 = t_msgget_new("mni3", 0600, NULL);
    t_say("three queues created");
    key_t k4 = fresh_key("mni4");
    EXPECT_ERR(msgget(k4, IPC_CREAT | IPC_EXCL | 0600), ENOSPC);
    EXPECT_ERR(msgget(k4, IPC_CREAT | 0600), ENOSPC);
    EXPECT_ERR(msgget(IPC_PRIVATE, 0600), ENOSPC);
    EXPECT_ERR(msgget(k4, 0600), ENOENT);

    t_say("-- at the limit, existing keys");
    t_check("msgget(k1, 0) finds the first queue", msgget(k1, 0) == q1);
    t_check("msgget(k1, IPC_CREAT) finds it too", msgget(k1, IPC_CREAT | 0600) == q1);
    EXPECT_ERR(msgget(k1, IPC_CREAT | IPC_EXCL | 0600), EEXIST);

    struct msginfo info;
    memset(&info, 0, sizeof info);
    EXPECT_OK(msgctl(0, IPC_INFO, (struct msqid_ds *)&info));
    t_say("IPC_INFO: msgmax %d msgmnb %d msgmni %d", info.msgmax, info.msgmnb, info.msgmni);
    t_check("IPC_INFO msgmni is 3", info.msgmni == 3);

    t_say("-- one removed, one more fits");
    EXPECT_EQ(msgctl(q2, IPC_RMID, NULL), 0);
    int q4 = EXPECT_OK(msgget(IPC_PRIVATE, 0600));
    EXPECT_ERR(msgget(IPC_PRIVATE, 0600), ENOSPC);
    EXPECT_ERR(msgget(k4, IPC_CREAT | 0600), ENOSPC);

    EXPECT_EQ(msgctl(q1, IPC_RMID, NULL), 0);
    EXPECT_EQ(msgctl(q3, IPC_RMID, NULL), 0);
    if (q4 >= 0)
        EXPECT_EQ(msgctl(q4, IPC_RMID, NULL), 0);
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = { { "msgmni=3", body, LIM_UNPRIVILEGED } };
    return lim_main(argc, argv, phases, 1);
}
