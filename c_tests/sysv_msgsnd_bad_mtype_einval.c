/* mqt: static */
/* msgsnd refuses mtype < 1 with EINVAL (checked before the queue id: also with id -1), and a
 * size above msgmax (8192) with EINVAL; nothing is queued. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("mtype", 0600, NULL);
    static struct { long mtype; char mtext[8200]; } m;
    m.mtype = 0;
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EINVAL);
    m.mtype = -1;
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgsnd(-1, &m, 1, IPC_NOWAIT), EINVAL);
    m.mtype = 1;
    EXPECT_ERR(msgsnd(id, &m, 8193, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgsnd(id, &m, (size_t)-1, IPC_NOWAIT), EINVAL);
    EXPECT_EQ(msgsnd(id, &m, 8192, IPC_NOWAIT), 0);

    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
