/* LTP's msgget03 pattern: with msgmni set to 3 (in a namespace holding no queue), three
 * msgget(IPC_PRIVATE) succeed and the fourth is ENOSPC; raising msgmni lets the next one
 * succeed; lowering it below the queues that exist leaves them alone and refuses new ones.
 * msgctl(IPC_INFO) reports the msgmni in force. */
#include "harness.h"
#include "mqt_sysctl.h"

int main(void)
{
    sys_private_ipc();
    sys_write(SYS_MSGMNI, "3\n");
    int ids[6];
    int n = 0;
    for (int i = 0; i < 3; i++) {
        ids[n] = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
        n++;
    }
    EXPECT_ERR(msgget(IPC_PRIVATE, IPC_CREAT | 0600), ENOSPC);
    struct msginfo info;
    memset(&info, 0, sizeof info);
    EXPECT_OK(msgctl(0, IPC_INFO, (struct msqid_ds *)&info));
    t_say("IPC_INFO msgmni %d", info.msgmni);

    t_say("-- raised to 4");
    sys_write(SYS_MSGMNI, "4\n");
    ids[n] = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    n++;
    EXPECT_ERR(msgget(IPC_PRIVATE, IPC_CREAT | 0600), ENOSPC);

    t_say("-- lowered to 1: the four stay, none more");
    sys_write(SYS_MSGMNI, "1\n");
    EXPECT_ERR(msgget(IPC_PRIVATE, IPC_CREAT | 0600), ENOSPC);
    for (int i = 0; i < n; i++)
        EXPECT_EQ(msgctl(ids[i], IPC_RMID, NULL), 0);
    ids[0] = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    EXPECT_ERR(msgget(IPC_PRIVATE, IPC_CREAT | 0600), ENOSPC);
    EXPECT_EQ(msgctl(ids[0], IPC_RMID, NULL), 0);
    return t_finish();
}
