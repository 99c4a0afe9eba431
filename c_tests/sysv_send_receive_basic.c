/* mqt: static */
/* The SysV success path: msgget creates, msgsnd queues (zero-length too), msgrcv returns the
 * text length and writes mtype, IPC_RMID removes. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("basic", 0600, NULL);
    struct t_msg m = { .mtype = 7 };
    memcpy(m.mtext, "hello", 5);

    EXPECT_EQ(msgsnd(id, &m, 5, 0), 0);
    m.mtype = 2;
    EXPECT_EQ(msgsnd(id, &m, 0, 0), 0);

    struct t_msg r;
    memset(&r, 0, sizeof r);
    long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, 0), 5);
    t_show_typed("received", r.mtext, n, r.mtype);
    n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), 0);
    t_show_typed("received", r.mtext, n, r.mtype);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
