/* mqt: static */
/* An id whose queue was removed is EINVAL for every call (not EIDRM, which only a waiter
 * sees); so is a negative id for msgsnd/msgrcv. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("stale", 0600, NULL);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);

    struct t_msg m = { .mtype = 1 };
    struct msqid_ds ds;
    EXPECT_ERR(msgsnd(id, &m, 1, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgsnd(id, &m, 1, 0), EINVAL);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgrcv(id, &m, sizeof m.mtext, 0, 0), EINVAL);
    EXPECT_ERR(msgctl(id, IPC_STAT, &ds), EINVAL);
    EXPECT_ERR(msgctl(id, IPC_RMID, NULL), EINVAL);

    EXPECT_ERR(msgsnd(-1, &m, 1, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgrcv(-1, &m, sizeof m.mtext, 0, IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgrcv(-1, &m, (size_t)-1, 0, IPC_NOWAIT), EINVAL);
    return t_finish();
}
