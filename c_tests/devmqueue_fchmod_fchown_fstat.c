/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* fchmod and fchown of a queue descriptor (from mq_open or from open of /dev/mqueue/NAME) are
 * chmod and chown of the queue's file, with the same rules (nobody may not change root's queue:
 * EPERM), also once the name is unlinked; and fstat of a descriptor opened before a change —
 * through the path or through another descriptor — shows the queue's mode and owner as they
 * are now, as the kernel's one inode does. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

static void show_fd(const char *label, int fd)
{
    struct stat st;
    if (EXPECT_EQ(fstat(fd, &st), 0) == 0)
        t_say("  %s: mode %04o uid %u gid %u", label, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    const char *name, *path;
    mqd_t q = dmq_create("fc", 0644, &name, &path);
    int fd = EXPECT_OK(open(path, O_RDONLY));

    t_say("-- chmod and chown of the path: fstat of earlier descriptors sees them");
    EXPECT_EQ(chmod(path, 0600), 0);
    show_fd("mq_open's", q);
    show_fd("open's", fd);
    EXPECT_EQ(chown(path, DMQ_NOBODY, DMQ_NOBODY), 0);
    show_fd("mq_open's", q);

    t_say("-- fchmod and fchown of a descriptor");
    EXPECT_EQ(fchmod(q, 0640), 0);
    show_fd("open's", fd);
    EXPECT_EQ(fchown(fd, 0, -1), 0);
    show_fd("mq_open's", q);
    EXPECT_EQ(fchown(q, -1, 0), 0);
    struct stat st;
    if (EXPECT_EQ(stat(path, &st), 0) == 0)
        t_say("  stat: mode %04o uid %u gid %u", (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);

    t_say("-- nobody may not change root's queue");
    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        EXPECT_ERR(fchmod(fd, 0666), EPERM);
        EXPECT_ERR(fchown(q, DMQ_NOBODY, -1), EPERM);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- after unlink the descriptors still change and show it");
    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_EQ(fchmod(fd, 0604), 0);
    show_fd("mq_open's", q);
    EXPECT_EQ(fchown(q, DMQ_NOBODY, -1), 0);
    show_fd("open's", fd);

    EXPECT_EQ(close(fd), 0);
    EXPECT_EQ(mq_close(q), 0);
    return t_finish();
}
