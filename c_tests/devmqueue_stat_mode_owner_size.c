/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* A queue is the file /dev/mqueue/NAME of the mqueue filesystem: stat, lstat, stat64, fstatat
 * and statx show a regular file with the queue's mode (mq_open's mode less the umask), owned by
 * its creator's uid and gid, one link, no blocks, and the size of every mqueue inode (80,
 * FILENT_SIZE: messages queued do not change it — the status line's QSIZE counts them). A name
 * that is no queue, or no longer one after mq_unlink, is ENOENT; a bad buffer is EFAULT; it has
 * no extended attributes (EOPNOTSUPP, what ls -l asks for its label and ACL). A
 * queue nobody created shows nobody as its owner. (The posixmq crate and tools such as ls
 * look at queues this way.) */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"
#include <sys/xattr.h>

static void show_all_ways(const char *path)
{
    struct stat st;
    struct stat64 st64;
    struct statx stx;
    memset(&st, 0, sizeof st);
    if (EXPECT_EQ(stat(path, &st), 0) == 0)
        dmq_show_stat("  stat", &st);
    memset(&st, 0, sizeof st);
    if (EXPECT_EQ(lstat(path, &st), 0) == 0)
        dmq_show_stat("  lstat", &st);
    memset(&st, 0, sizeof st);
    if (EXPECT_EQ(fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW), 0) == 0)
        dmq_show_stat("  fstatat", &st);
    memset(&st64, 0, sizeof st64);
    if (EXPECT_EQ(stat64(path, &st64), 0) == 0)
        t_say("  stat64: mode %04o size %lld", (unsigned)(st64.st_mode & 07777), (long long)st64.st_size);
    memset(&stx, 0, sizeof stx);
    if (EXPECT_EQ(statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &stx), 0) == 0)
        t_say("  statx: basic stats %s, %s mode %04o uid %u gid %u size %llu nlink %u blocks %llu", (stx.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS ? "all" : "not all",
              S_ISREG(stx.stx_mode) ? "regular" : "not-regular", (unsigned)(stx.stx_mode & 07777), stx.stx_uid, stx.stx_gid, (unsigned long long)stx.stx_size,
              stx.stx_nlink, (unsigned long long)stx.stx_blocks);
}

int main(void)
{
    dmq_private_mount();
    umask(027);
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };
    const char *name = t_qname("st");
    const char *path = dmq_path(name);
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0666, &attr));

    t_say("-- a new queue, mode 0666 less umask 027");
    show_all_ways(path);

    t_say("-- with two messages queued");
    EXPECT_EQ(mq_send(q, "hello", 5, 1), 0);
    EXPECT_EQ(mq_send(q, "world!", 6, 2), 0);
    show_all_ways(path);

    t_say("-- errors");
    struct stat st;
    EXPECT_ERR(stat(dmq_path(t_qname("none")), &st), ENOENT);
    EXPECT_ERR(lstat(dmq_path(t_qname("none")), &st), ENOENT);
    EXPECT_ERR(stat(path, (struct stat *)8), EFAULT);
    char label[64];
    EXPECT_ERR(lgetxattr(path, "security.selinux", label, sizeof label), EOPNOTSUPP);
    EXPECT_ERR(getxattr(path, "system.posix_acl_access", NULL, 0), EOPNOTSUPP);
    EXPECT_ERR(getxattr(dmq_path(t_qname("none")), "system.posix_acl_access", NULL, 0), ENOENT);

    t_say("-- a queue nobody created");
    const char *theirs = t_qname("nobody");
    t_child c = t_spawn();
    if (c.pid == 0) {
        dmq_become_nobody();
        umask(0);
        mqd_t n = EXPECT_OK(mq_open(theirs, O_RDWR | O_CREAT | O_EXCL, 0604, &attr));
        EXPECT_EQ(mq_close(n), 0);
        exit(t_child_status());
    }
    t_join(&c, 0);
    memset(&st, 0, sizeof st);
    if (EXPECT_EQ(stat(dmq_path(theirs), &st), 0) == 0)
        dmq_show_stat("  stat", &st);
    EXPECT_EQ(mq_unlink(theirs), 0);

    t_say("-- after mq_unlink");
    EXPECT_EQ(mq_unlink(name), 0);
    EXPECT_ERR(stat(path, &st), ENOENT);
    EXPECT_ERR(statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &(struct statx){ 0 }), ENOENT);
    EXPECT_EQ(mq_close(q), 0);
    return t_finish();
}
