/* LTP's msg_next_id pattern (checkpoint/restore): after writing N to msg_next_id, the next
 * msgget that creates a queue gets id N exactly and the file reads -1 again; a msgget that finds
 * an existing key creates nothing and leaves it set. When the index N names is taken, the queue
 * gets N's sequence number at the next free index above it. Ids are printed: they are the
 * point, and equal on the kernel and the emulation. */
#include "harness.h"
#include "mqt_sysctl.h"

int main(void)
{
    sys_private_ipc();
    sys_read(SYS_MSG_NEXT_ID);
    int first = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    t_say("first id %d", first);

    sys_write(SYS_MSG_NEXT_ID, "98304\n");            /* seq 3, index 0 */
    sys_read(SYS_MSG_NEXT_ID);
    key_t key = 0;
    int keyed = t_msgget_new("nx", 0600, &key);
    t_say("created id %d", keyed);
    sys_read(SYS_MSG_NEXT_ID);

    t_say("-- an existing key does not take it");
    sys_write(SYS_MSG_NEXT_ID, "1234\n");
    EXPECT_EQ(msgget(key, IPC_CREAT | 0600), keyed);
    sys_read(SYS_MSG_NEXT_ID);
    int taken = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    t_say("created id %d", taken);
    sys_read(SYS_MSG_NEXT_ID);

    t_say("-- then ids go on as before");
    int next = EXPECT_OK(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    t_say("created id %d", next);

    int ids[] = { first, keyed, taken, next };
    for (int i = 0; i < 4; i++)
        EXPECT_EQ(msgctl(ids[i], IPC_RMID, NULL), 0);
    return t_finish();
}
