/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* A queue's file named by a relative path is the same file: from the working directory /dev,
 * /dev/mqueue or / (after chdir, and back again after fchdir), and from a descriptor of
 * /dev/mqueue, opened with open(O_DIRECTORY) or taken from opendir with dirfd — stat, access,
 * open and read, fstatat, faccessat, openat, fchmodat, fchownat and unlinkat all act on the
 * queue as through /dev/mqueue/NAME. A descriptor of another directory names no queue. */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

#include <dirent.h>

static void show_stat(const char *label, int r, const struct stat *st)
{
    if (r == 0)
        t_say("  %s: %s mode %04o uid %u gid %u size %lld", label, S_ISREG(st->st_mode) ? "regular" : "not-regular",
              (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid, (long long)st->st_size);
    else
        t_say("  %s: -1 %s", label, t_errno_name(errno));
}

static void show_status(const char *label, int fd)
{
    char buf[16] = { 0 };
    ssize_t n = fd >= 0 ? read(fd, buf, 6) : -1;
    t_say("  %s: read %zd \"%.6s\"", label, n, n > 0 ? buf : "");
    if (fd >= 0)
        close(fd);
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    const char *name = t_qname("rel");
    const char *other = t_qname("rel2");
    const char *file = name + 1, *other_file = other + 1; /* the names without their slash */
    char under_dev[300], under_root[300];
    snprintf(under_dev, sizeof under_dev, "mqueue/%s", file);
    snprintf(under_root, sizeof under_root, "dev/mqueue/%s", file);
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0640, &attr));
    mqd_t q2 = EXPECT_OK(mq_open(other, O_RDWR | O_CREAT | O_EXCL, 0604, &attr));
    struct stat st;
    int start = EXPECT_OK(open(".", O_RDONLY | O_DIRECTORY));

    t_say("-- from the working directory");
    EXPECT_EQ(chdir("/dev"), 0);
    show_stat("stat mqueue/NAME", stat(under_dev, &st), &st);
    EXPECT_EQ(access(under_dev, R_OK | W_OK), 0);
    show_status("open mqueue/NAME", open(under_dev, O_RDONLY));
    EXPECT_EQ(chdir("mqueue"), 0);
    show_stat("stat NAME", stat(file, &st), &st);
    show_stat("lstat NAME", lstat(file, &st), &st);
    show_stat("fstatat(AT_FDCWD, NAME)", fstatat(AT_FDCWD, file, &st, 0), &st);
    show_status("open NAME", open(file, O_RDONLY));
    show_stat("stat no-such-queue", stat("no-such-queue", &st), &st);
    EXPECT_EQ(chdir("/"), 0);
    show_stat("stat dev/mqueue/NAME", stat(under_root, &st), &st);
    EXPECT_EQ(fchdir(start), 0);
    show_stat("back: stat mqueue/NAME", stat(under_dev, &st), &st);

    t_say("-- from a descriptor of /dev/mqueue");
    int dir = EXPECT_OK(open("/dev/mqueue", O_RDONLY | O_DIRECTORY));
    show_stat("fstatat NAME", fstatat(dir, file, &st, 0), &st);
    show_stat("fstatat NAME, no follow", fstatat(dir, file, &st, AT_SYMLINK_NOFOLLOW), &st);
    EXPECT_EQ(faccessat(dir, file, R_OK, 0), 0);
    show_status("openat NAME", openat(dir, file, O_RDONLY));
    EXPECT_EQ(fchmodat(dir, file, 0600, 0), 0);
    EXPECT_EQ(fchownat(dir, file, -1, DMQ_NOBODY, 0), 0);
    show_stat("stat /dev/mqueue/NAME", stat(dmq_path(name), &st), &st);
    EXPECT_ERR(fstatat(dir, "no-such-queue", &st, 0), ENOENT);
    EXPECT_EQ(unlinkat(dir, file, 0), 0);
    EXPECT_ERR(mq_open(name, O_RDONLY), ENOENT);
    EXPECT_EQ(close(dir), 0);

    t_say("-- from opendir's descriptor");
    DIR *d = opendir("/dev/mqueue");
    T_REQUIRE(d != NULL);
    show_stat("fstatat NAME2", fstatat(dirfd(d), other_file, &st, 0), &st);
    show_status("openat NAME2", openat(dirfd(d), other_file, O_RDONLY));
    EXPECT_EQ(unlinkat(dirfd(d), other_file, 0), 0);
    EXPECT_ERR(mq_open(other, O_RDONLY), ENOENT);
    EXPECT_EQ(closedir(d), 0);

    t_say("-- a descriptor of another directory names no queue");
    int elsewhere = EXPECT_OK(open("/dev", O_RDONLY | O_DIRECTORY));
    EXPECT_ERR(fstatat(elsewhere, other_file, &st, 0), ENOENT);
    show_stat("fstatat(/dev, mqueue)", fstatat(elsewhere, "mqueue", &st, 0), &st);
    EXPECT_EQ(close(elsewhere), 0);

    EXPECT_EQ(close(start), 0);
    EXPECT_EQ(mq_close(q), 0);
    EXPECT_EQ(mq_close(q2), 0);
    return t_finish();
}
