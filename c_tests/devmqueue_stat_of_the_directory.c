/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* stat of /dev/mqueue itself shows the mqueue filesystem's root: a sticky directory, mode 1777,
 * owned by whoever mounted it (here root), two links, and a size of 20 bytes per entry
 * (DIRENT_SIZE) with "." and "..", so it grows by 20 with each queue and shrinks at unlink
 * (not at the last close). lstat, fstatat and statx alike, also of "/dev/mqueue/". */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"

static void show(const char *label, const char *path)
{
    struct stat st;
    if (EXPECT_EQ(stat(path, &st), 0) == 0)
        t_say("  %s: %s mode %04o uid %u gid %u nlink %lu size %lld", label, S_ISDIR(st.st_mode) ? "directory" : "not-directory",
              (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned long)st.st_nlink, (long long)st.st_size);
}

int main(void)
{
    dmq_private_mount();
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 2, .mq_msgsize = 16 };
    const char *a = t_qname("da"), *b = t_qname("db");
    show("empty", "/dev/mqueue");
    mqd_t qa = EXPECT_OK(mq_open(a, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    show("one queue", "/dev/mqueue");
    EXPECT_EQ(mq_close(EXPECT_OK(mq_open(b, O_RDWR | O_CREAT | O_EXCL, 0600, &attr))), 0);
    show("two queues", "/dev/mqueue/");
    EXPECT_EQ(mq_unlink(a), 0);
    show("one unlinked, still open", "/dev/mqueue");
    EXPECT_EQ(mq_close(qa), 0);
    EXPECT_EQ(mq_unlink(b), 0);
    show("none", "/dev/mqueue");

    struct stat st;
    if (EXPECT_EQ(lstat("/dev/mqueue", &st), 0) == 0)
        t_say("  lstat: mode %06o", (unsigned)st.st_mode);
    if (EXPECT_EQ(fstatat(AT_FDCWD, "/dev/mqueue", &st, 0), 0) == 0)
        t_say("  fstatat: mode %06o", (unsigned)st.st_mode);
    struct statx stx;
    if (EXPECT_EQ(statx(AT_FDCWD, "/dev/mqueue", 0, STATX_BASIC_STATS, &stx), 0) == 0)
        t_say("  statx: mode %06o nlink %u size %llu", (unsigned)stx.stx_mode, stx.stx_nlink, (unsigned long long)stx.stx_size);
    return t_finish();
}
