/* mqt: static */
/* A receiver blocked in msgrcv (in a child process) when the queue is removed wakes with
 * EIDRM; afterwards the id is merely stale (EINVAL). */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("eidrm", 0600, NULL);
    t_chan ready = t_chan_open();

    t_child c = t_spawn();
    if (c.pid == 0) {
        struct t_msg r;
        msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT);   /* warm up (ENOMSG) */
        t_chan_post(&ready);
        EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 0, 0), EIDRM);
        exit(t_child_status());
    }
    t_chan_wait(&ready);
    t_wait_blocked(c.pid);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    t_join(&c, 0);

    struct t_msg r;
    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), EINVAL);
    return t_finish();
}
