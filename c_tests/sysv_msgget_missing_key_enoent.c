/* mqt: static */
/* msgget without IPC_CREAT on a key that has no queue (here: one that was just removed) is
 * ENOENT; IPC_CREAT then makes a new queue with a new id. */
#include "harness.h"

int main(void)
{
    key_t key;
    int id = t_msgget_new("missing", 0600, &key);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);

    EXPECT_ERR(msgget(key, 0), ENOENT);
    EXPECT_ERR(msgget(key, 0600), ENOENT);
    EXPECT_ERR(msgget(key, IPC_EXCL | 0600), ENOENT);

    int fresh = EXPECT_OK(msgget(key, IPC_CREAT | IPC_EXCL | 0600));
    t_check("the re-created queue has a new id", fresh != id);
    EXPECT_EQ(msgctl(fresh, IPC_RMID, NULL), 0);
    return t_finish();
}
