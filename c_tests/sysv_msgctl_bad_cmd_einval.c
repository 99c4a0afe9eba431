/* mqt: static */
/* msgctl with an unknown command (99) or a negative one is EINVAL, on a valid queue too; a
 * negative msqid is EINVAL. */
#include "harness.h"

int main(void)
{
    int id = t_msgget_new("badcmd", 0600, NULL);
    struct msqid_ds ds;

    EXPECT_ERR(msgctl(id, 99, &ds), EINVAL);
    EXPECT_ERR(msgctl(id, -1, &ds), EINVAL);
    EXPECT_ERR(msgctl(-1, IPC_STAT, &ds), EINVAL);
    EXPECT_ERR(msgctl(-1, IPC_RMID, NULL), EINVAL);
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);   /* the queue is unharmed */

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
