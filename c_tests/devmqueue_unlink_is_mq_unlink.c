/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* unlink of /dev/mqueue/NAME is mq_unlink of NAME: the name goes at once (mq_open without
 * O_CREAT is ENOENT, stat is ENOENT, a second unlink is ENOENT) while an open descriptor keeps
 * the queue and its messages until closed. The mqueue root is sticky: nobody may not remove
 * root's queue (EPERM from unlink and from unlinkat with AT_REMOVEDIR, where mq_unlink says
 * EACCES); root's AT_REMOVEDIR of a queue is ENOTDIR. unlinkat with AT_FDCWD and an absolute
 * path is unlink. (rm and Rust's remove_file remove queues this way.) */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    const char *name = t_qname("ul"), *other = t_qname("ul2");
    const char *path = dmq_path(name), *other_path = dmq_path(other);
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0666, &attr));
    EXPECT_EQ(mq_send(q, "kept", 4, 0), 0);
    EXPECT_EQ(mq_close(EXPECT_OK(mq_open(other, O_RDWR | O_CREAT | O_EXCL, 0666, &attr))), 0);

    t_say("-- nobody");
    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        EXPECT_ERR(unlink(path), EPERM);
        EXPECT_ERR(unlinkat(AT_FDCWD, path, AT_REMOVEDIR), EPERM);
        EXPECT_ERR(mq_unlink(name), EACCES);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- root");
    EXPECT_ERR(unlinkat(AT_FDCWD, path, AT_REMOVEDIR), ENOTDIR);
    EXPECT_EQ(unlink(path), 0);
    EXPECT_ERR(unlink(path), ENOENT);
    struct stat st;
    EXPECT_ERR(stat(path, &st), ENOENT);
    EXPECT_ERR(mq_open(name, O_RDWR), ENOENT);
    char msg[16];
    EXPECT_EQ(mq_receive(q, msg, sizeof msg, NULL), 4);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_ERR(mq_unlink(name), ENOENT);

    EXPECT_EQ(unlinkat(AT_FDCWD, other_path, 0), 0);
    EXPECT_ERR(mq_unlink(other), ENOENT);
    EXPECT_ERR(unlink(dmq_path(t_qname("none"))), ENOENT);
    return t_finish();
}
