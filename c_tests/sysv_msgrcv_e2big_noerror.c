/* mqt: static */
/* A message longer than msgrcv's msgsz: without MSG_NOERROR the call fails with E2BIG and
 * the message stays queued; with MSG_NOERROR it is truncated to msgsz and the rest is lost. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("e2big", 0600, NULL);
    struct t_msg m = { .mtype = 3 };
    memcpy(m.mtext, "0123456789", 10);
    EXPECT_EQ(msgsnd(id, &m, 10, 0), 0);

    struct t_msg r;
    memset(&r, 0, sizeof r);
    EXPECT_ERR(msgrcv(id, &r, 4, 0, IPC_NOWAIT), E2BIG);
    EXPECT_ERR(msgrcv(id, &r, 4, 0, 0), E2BIG);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("after E2BIG: qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum,
          (unsigned long)ds.__msg_cbytes);

    long n = EXPECT_EQ(msgrcv(id, &r, 4, 0, MSG_NOERROR | IPC_NOWAIT), 4);
    t_show_typed("truncated", r.mtext, n, r.mtype);
    t_check("bytes past msgsz untouched", r.mtext[4] == 0);
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("after MSG_NOERROR: qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum,
          (unsigned long)ds.__msg_cbytes);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
