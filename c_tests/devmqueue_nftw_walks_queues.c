/* mqt: skip-config shim-redis */
/* Not under Redis (shim-redis skipped): mqshim serves /dev/mqueue for emulated queues only; a
 * Redis queue has no file there (README "Across machines", Differences from the kernel). */
/* nftw and ftw of /dev/mqueue walk the queues as glibc walks a directory (glibc's own walk
 * opens and stats through its internal calls): the directory at level 0 (FTW_D, or FTW_DP
 * after its entries with FTW_DEPTH), each queue at level 1 as a regular file (FTW_F) with its
 * mode, `base` pointing at the name; trailing slashes of the path dropped; the callback's
 * non-zero answer ends the walk and is its result (FTW_STOP with FTW_ACTIONRETVAL;
 * FTW_SKIP_SIBLINGS leaves the rest of the directory); with FTW_CHDIR the callback runs in the
 * directory holding its entry; a queue's own path is one FTW_F entry. Entries are printed in
 * name order (the listing order is the filesystem's). */
#define _GNU_SOURCE
#include "harness.h"
#include "mqt_devmqueue.h"
#include <ftw.h>

static char lines[16][160];
static int nlines, entries_seen, root_after_entries, relative_ok;

static int mine(const char *name)
{
    const char *prefix = t_qname("") + 1;
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

static const char *kind(int flag)
{
    switch (flag) {
    case FTW_F: return "FTW_F";
    case FTW_D: return "FTW_D";
    case FTW_DP: return "FTW_DP";
    case FTW_NS: return "FTW_NS";
    default: return "other";
    }
}

static int record(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    const char *name = path + f->base;
    if (f->level == 0) {
        const char *shown = mine(name) ? name + strlen(t_qname("") + 1) : name;
        snprintf(lines[nlines++ % 16], sizeof lines[0], "level 0 %s%s %s, base names \"%s\", a directory: %s",
                 mine(name) ? "/dev/mqueue/" : path, mine(name) ? shown : "", kind(flag), shown,
                 S_ISDIR(st->st_mode) ? "yes" : "no");
        root_after_entries = entries_seen;
    } else if (mine(name)) {
        entries_seen++;
        snprintf(lines[nlines++ % 16], sizeof lines[0], "level %d %s %s, mode %04o, regular: %s", f->level,
                 name + strlen(t_qname("") + 1), kind(flag), (unsigned)(st->st_mode & 07777),
                 S_ISREG(st->st_mode) ? "yes" : "no");
    } else {
        entries_seen++;
    }
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void walk(const char *path, const char *shown, int flags, const char *what)
{
    nlines = entries_seen = 0;
    root_after_entries = -1;
    int r = nftw(path, record, 8, flags);
    t_say("nftw(\"%s\", %s) -> %d", shown, what, r);
    qsort(lines, (size_t)(nlines < 16 ? nlines : 16), sizeof lines[0], cmp);
    for (int i = 0; i < nlines && i < 16; i++)
        t_say("  %s", lines[i]);
}

static int stop_at_first(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag;
    if (f->level == 1 && mine(path + f->base))
        return FTW_STOP;
    return FTW_CONTINUE;
}

static int answer_42(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)path; (void)st; (void)flag;
    entries_seen += f->level;
    return 42;
}

static int skip_rest(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)path; (void)st; (void)flag;
    if (f->level == 0)
        return FTW_CONTINUE;
    entries_seen++;
    return FTW_SKIP_SIBLINGS;
}

static int in_its_directory(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag;
    struct stat here;
    if (f->level == 1 && mine(path + f->base))
        relative_ok += stat(path + f->base, &here) == 0 && S_ISREG(here.st_mode);
    return 0;
}

static int counted_d, counted_f;
static int old_style(const char *path, const struct stat *st, int flag)
{
    (void)st;
    const char *slash = strrchr(path, '/');
    counted_d += flag == FTW_D;
    counted_f += flag == FTW_F && slash && mine(slash + 1);
    return 0;
}

int main(void)
{
    dmq_private_mount();
    mode_t old = umask(0);
    mqd_t a = EXPECT_OK(mq_open(t_qname("ft-a"), O_RDWR | O_CREAT | O_EXCL, 0640, NULL));
    mqd_t b = EXPECT_OK(mq_open(t_qname("ft-b"), O_RDWR | O_CREAT | O_EXCL, 0604, NULL));
    umask(old);

    walk("/dev/mqueue", "/dev/mqueue", FTW_PHYS, "FTW_PHYS");
    walk("/dev/mqueue//", "/dev/mqueue//", 0, "0");
    walk("/dev/mqueue", "/dev/mqueue", FTW_DEPTH | FTW_PHYS, "FTW_DEPTH|FTW_PHYS");
    t_check("with FTW_DEPTH the directory comes after its entries", root_after_entries == entries_seen && entries_seen >= 2);
    walk(dmq_path(t_qname("ft-a")), "/dev/mqueue/ft-a", 0, "0 (a queue's own path)");

    int r = nftw("/dev/mqueue", stop_at_first, 8, FTW_ACTIONRETVAL);
    t_say("nftw(..., FTW_ACTIONRETVAL) stopping at the first queue -> %s", r == FTW_STOP ? "FTW_STOP" : "other");
    entries_seen = 0;
    r = nftw("/dev/mqueue", answer_42, 8, 0);
    t_say("nftw(...) whose callback answers 42 at the directory -> %d, entries visited %d", r, entries_seen);
    entries_seen = 0;
    r = nftw("/dev/mqueue", skip_rest, 8, FTW_ACTIONRETVAL);
    t_say("nftw(..., FTW_ACTIONRETVAL) skipping siblings -> %d, entries visited %d", r, entries_seen);
    r = nftw("/dev/mqueue", in_its_directory, 8, FTW_CHDIR);
    t_say("nftw(..., FTW_CHDIR) -> %d; the queues stat by their names alone: %d", r, relative_ok);
    r = ftw("/dev/mqueue", old_style, 8);
    t_say("ftw(\"/dev/mqueue\") -> %d: %d directory, %d of the test's queues", r, counted_d, counted_f);
    errno = 0;
    r = nftw("/dev/mqueue/no-such-queue-here", record, 8, 0);
    t_say("nftw of a missing queue -> %d %s", r, r < 0 ? t_errno_name(errno) : "");

    EXPECT_OK(mq_close(a));
    EXPECT_OK(mq_close(b));
    EXPECT_OK(mq_unlink(t_qname("ft-a")));
    EXPECT_OK(mq_unlink(t_qname("ft-b")));
    return t_finish();
}
