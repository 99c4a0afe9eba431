/* mqt: static */
/* msgrcv with IPC_NOWAIT and no matching message is ENOMSG — on an empty queue and when only
 * other types are queued; the non-matching message stays. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("enomsg", 0600, NULL);
    struct t_msg r;

    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT), ENOMSG);
    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 1, IPC_NOWAIT), ENOMSG);

    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "one", 3);
    EXPECT_EQ(msgsnd(id, &m, 3, 0), 0);
    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 2, IPC_NOWAIT), ENOMSG);
    EXPECT_ERR(msgrcv(id, &r, sizeof r.mtext, 1, IPC_NOWAIT | MSG_EXCEPT), ENOMSG);
    long n = EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 1, IPC_NOWAIT), 3);
    t_show_typed("still there", r.mtext, n, r.mtype);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
