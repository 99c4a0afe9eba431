/* Root in a user namespace of its own has CAP_SYS_RESOURCE only in that namespace; the kernel
 * checks IPC_SET's "msg_qbytes above msgmnb" with capable(CAP_SYS_RESOURCE), i.e. in the
 * initial user namespace, so with msgmnb 1024 it is EPERM for this root too (1024 itself is
 * fine). Every configuration runs the phase as root of a fresh user + IPC namespace: the kernel
 * with msgmnb written to the namespace's sysctl, mqshim with MQSHIM_LIMITS=msgmnb=1024 (the
 * namespace's own msgmnb stays 16384, so only mqshim's enforcement can refuse 1025). */
#include "harness.h"
#include "mqt_limits.h"

static int set_qbytes(int id, unsigned long qbytes)
{
    struct msqid_ds ds;
    T_REQUIRE(msgctl(id, IPC_STAT, &ds) == 0);
    ds.msg_qbytes = qbytes;
    return msgctl(id, IPC_SET, &ds);
}

static void body(void)
{
    int id = t_msgget_new("unmnb", 0600, NULL);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_check("a new queue's msg_qbytes is 1024", ds.msg_qbytes == 1024);
    EXPECT_ERR(set_qbytes(id, 1025), EPERM);
    EXPECT_ERR(set_qbytes(id, 16384), EPERM);
    EXPECT_EQ(set_qbytes(id, 1024), 0);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
}

int main(int argc, char **argv)
{
    static const struct lim_phase phases[] = { { "msgmnb=1024", body, LIM_USERNS_ROOT } };
    return lim_main(argc, argv, phases, 1);
}
