/* mqt: static */
/* msgget on an existing key: IPC_CREAT|IPC_EXCL is EEXIST; IPC_CREAT alone and flags 0
 * return the existing queue's id. */
#include "harness.h"

int main(void)
{
    key_t key;
    int id = t_msgget_new("excl", 0600, &key);

    EXPECT_ERR(msgget(key, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    EXPECT_ERR(msgget(key, IPC_CREAT | IPC_EXCL), EEXIST);
    int again = EXPECT_OK(msgget(key, IPC_CREAT | 0600));
    t_check("IPC_CREAT returns the existing id", again == id);
    int plain = EXPECT_OK(msgget(key, 0));
    t_check("flags 0 returns the existing id", plain == id);

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
