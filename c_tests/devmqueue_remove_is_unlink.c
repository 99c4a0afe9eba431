/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* remove(3) of /dev/mqueue/NAME is unlink of it, so mq_unlink of NAME (glibc's remove calls its
 * own unlink, which an LD_PRELOAD library does not see): nobody may not remove root's queue
 * (EPERM, the sticky mqueue root), root may, the name is then gone (ENOENT), and a second
 * remove is ENOENT. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    const char *name = t_qname("rm");
    const char *path = dmq_path(name);
    EXPECT_EQ(mq_close(EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0666, &attr))), 0);

    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        EXPECT_ERR(remove(path), EPERM);
        exit(t_child_status());
    }
    t_join(&c, 0);
    EXPECT_EQ(remove(path), 0);
    EXPECT_ERR(mq_open(name, O_RDONLY), ENOENT);
    EXPECT_ERR(remove(path), ENOENT);
    return t_finish();
}
