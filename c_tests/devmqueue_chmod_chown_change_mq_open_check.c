/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* chmod and chown of /dev/mqueue/NAME change the queue's mode and owner as for any file
 * (chmod by the owner or root, EPERM for others; chown of the owner by root only; -1 leaves an
 * id as it is; fchmodat, lchown and fchownat alike; ENOENT for no queue), and mq_open's
 * permission check then sees the change — at once, also in a process that opened the queue
 * before (here a child that opened it for reading as nobody while its mode allowed it, then is
 * refused reading, not writing, once root made "other" write-only). A queue given to nobody is nobody's to chmod. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    const char *name = t_qname("ch");
    const char *path = dmq_path(name);
    EXPECT_EQ(mq_close(EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0644, &attr))), 0);
    dmq_show_mode_owner(path);

    t_say("-- a child that opened it as nobody, then root narrows the mode");
    t_chan opened = t_chan_open(), narrowed = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        EXPECT_EQ(mq_close(EXPECT_OK(mq_open(name, O_RDONLY))), 0);
        EXPECT_ERR(chmod(path, 0666), EPERM);
        EXPECT_ERR(chown(path, DMQ_NOBODY, -1), EPERM);
        t_chan_post(&opened);
        t_chan_wait(&narrowed);
        EXPECT_ERR(mq_open(name, O_RDONLY), EACCES);
        EXPECT_ERR(access(path, R_OK), EACCES);
        EXPECT_EQ(mq_close(EXPECT_OK(mq_open(name, O_WRONLY))), 0);
        exit(t_child_status());
    }
    t_chan_wait(&opened);
    EXPECT_EQ(chmod(path, 0602), 0);
    dmq_show_mode_owner(path);
    t_chan_post(&narrowed);
    t_join(&c, 0);

    t_say("-- root widens it again with fchmodat");
    EXPECT_EQ(fchmodat(AT_FDCWD, path, 0606, 0), 0);
    dmq_show_mode_owner(path);
    t_child w = t_spawn();
    if (w.pid == 0) {
        dmq_become_nobody();
        EXPECT_EQ(mq_close(EXPECT_OK(mq_open(name, O_RDWR))), 0);
        exit(t_child_status());
    }
    t_join(&w, 0);

    t_say("-- root gives it to nobody");
    EXPECT_EQ(chown(path, -1, -1), 0);
    dmq_show_mode_owner(path);
    EXPECT_EQ(chown(path, DMQ_NOBODY, DMQ_NOBODY), 0);
    dmq_show_mode_owner(path);
    EXPECT_EQ(lchown(path, -1, 0), 0);
    EXPECT_EQ(fchownat(AT_FDCWD, path, -1, DMQ_NOBODY, 0), 0);
    dmq_show_mode_owner(path);
    t_child n = t_spawn();
    if (n.pid == 0) {
        dmq_become_nobody();
        EXPECT_EQ(chmod(path, 0600), 0);
        EXPECT_EQ(mq_close(EXPECT_OK(mq_open(name, O_RDWR))), 0);
        exit(t_child_status());
    }
    t_join(&n, 0);
    dmq_show_mode_owner(path);

    EXPECT_ERR(chmod(dmq_path(t_qname("none")), 0600), ENOENT);
    EXPECT_ERR(chown(dmq_path(t_qname("none")), 0, 0), ENOENT);
    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_ERR(chmod(path, 0600), ENOENT);
    return t_finish();
}
