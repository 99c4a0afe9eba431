/* mqt_devmqueue.h — /dev/mqueue, the kernel's mqueue filesystem, as the devmqueue tests see it.
 *
 * Every devmqueue test first enters a private mount and IPC namespace with an mqueue
 * filesystem of that IPC namespace at /dev/mqueue (dmq_private_mount(): root only; the test
 * stops, exit 97, if any step fails), so on the kernel configurations /dev/mqueue shows the
 * test's own queues and nothing of the machine's, and nothing the test does there reaches the
 * machine. Under the emulation mqshim serves /dev/mqueue/NAME for the emulated queues, whatever
 * is mounted there. Include after harness.h. */
#ifndef MQT_DEVMQUEUE_H
#define MQT_DEVMQUEUE_H

#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define DMQ_NOBODY T_NOBODY

/* A private mount and IPC namespace with its own mqueue filesystem at /dev/mqueue. */
static void dmq_private_mount(void)
{
    struct stat before, after;
    T_REQUIRE(stat("/proc/self/ns/ipc", &before) == 0);
    T_REQUIRE(unshare(CLONE_NEWNS | CLONE_NEWIPC) == 0);
    T_REQUIRE(stat("/proc/self/ns/ipc", &after) == 0 && after.st_ino != before.st_ino);
    T_REQUIRE(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    T_REQUIRE(mount("none", "/dev/mqueue", "mqueue", 0, NULL) == 0);
}

/* "/dev/mqueue" followed by the queue's name (which starts with its slash). */
static const char *dmq_path(const char *qname) T_UNUSED;
static const char *dmq_path(const char *qname)
{
    static char bufs[4][300];
    static int next;
    char *p = bufs[next++ % 4];
    snprintf(p, sizeof bufs[0], "/dev/mqueue%s", qname);
    return p;
}

/* The tests' usual queue: 2 x 16, of mode `mode` (less the umask), named after `tag`, its name
 * and its /dev/mqueue path to `name` and `path`. Prints the mq_open line as EXPECT_OK would. */
static mqd_t dmq_create(const char *tag, mode_t mode, const char **name, const char **path) T_UNUSED;
static mqd_t dmq_create(const char *tag, mode_t mode, const char **name, const char **path)
{
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    *name = t_qname(tag);
    *path = dmq_path(*name);
    char what[96];
    snprintf(what, sizeof what, "mq_open(name, O_RDWR | O_CREAT | O_EXCL, %04o, &attr)",
             (unsigned)mode);
    errno = 0;
    mqd_t q = mq_open(*name, O_RDWR | O_CREAT | O_EXCL, mode, &attr);
    int e = errno;
    return (mqd_t)t_expect(what, (long)q, e, T_WANT_OK, 0);
}

/* A queue's file opened each way, for the read/write tests. */
struct dmq_fds {
    int rw, ro, wo;
};

/* Opens `path` O_RDWR, O_RDONLY and O_WRONLY, printing each as EXPECT_OK would. */
static struct dmq_fds dmq_open_each_way(const char *path) T_UNUSED;
static struct dmq_fds dmq_open_each_way(const char *path)
{
    static const struct { const char *what; int flags; } ways[] = {
        { "open(path, O_RDWR)", O_RDWR },
        { "open(path, O_RDONLY)", O_RDONLY },
        { "open(path, O_WRONLY)", O_WRONLY },
    };
    int fd[3];
    for (int i = 0; i < 3; i++) {
        errno = 0;
        long r = open(path, ways[i].flags);
        int e = errno;
        fd[i] = (int)t_expect(ways[i].what, r, e, T_WANT_OK, 0);
    }
    return (struct dmq_fds){ fd[0], fd[1], fd[2] };
}

/* Closes what dmq_open_each_way opened, printing each as EXPECT_EQ(close(..), 0) would. */
static void dmq_close_each_way(const struct dmq_fds *fds) T_UNUSED;
static void dmq_close_each_way(const struct dmq_fds *fds)
{
    const struct { const char *what; int fd; } each[] = {
        { "close(rw)", fds->rw }, { "close(ro)", fds->ro }, { "close(wo)", fds->wo },
    };
    for (int i = 0; i < 3; i++) {
        errno = 0;
        long r = close(each[i].fd);
        int e = errno;
        t_expect(each[i].what, r, e, T_WANT_EQ, 0);
    }
}

/* Drops to nobody (no supplementary groups). */
static void dmq_become_nobody(void) T_UNUSED;
static void dmq_become_nobody(void)
{
    t_become(DMQ_NOBODY);
}

/* Prints what a stat says of a queue's file: type, mode, owner, size, links, blocks. */
static void dmq_show_stat(const char *label, const struct stat *st) T_UNUSED;
static void dmq_show_stat(const char *label, const struct stat *st)
{
    printf("%s: %s mode %04o uid %u gid %u size %lld nlink %lu blocks %lld blksize %ld\n", label,
           S_ISREG(st->st_mode) ? "regular" : "not-regular", (unsigned)(st->st_mode & 07777),
           (unsigned)st->st_uid, (unsigned)st->st_gid, (long long)st->st_size,
           (unsigned long)st->st_nlink, (long long)st->st_blocks, (long)st->st_blksize);
}

/* Says the mode (with its set-id and sticky bits) and owner a stat of `path` gives. */
static void dmq_show_mode_owner(const char *path) T_UNUSED;
static void dmq_show_mode_owner(const char *path)
{
    struct stat st;
    if (EXPECT_EQ(stat(path, &st), 0) == 0)
        t_say("  mode %04o uid %u gid %u", (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
}

#endif /* MQT_DEVMQUEUE_H */
