/* mqt: */
/* Shown failing on the code before the namespace stopped trusting paths: root's mq_unlink of
 * nobody's queue chmod-ed the target of a "fifo" link nobody planted to 0666 (round "f"), and
 * root's calls on the sabotaged queues failed with ENOTDIR and ELOOP, errnos the kernel never
 * gives for them. */
/* A user cannot turn another user's queue calls against files it could not touch itself: on the
 * kernel, nobody's queues live in the kernel and root's mq_open, mq_unlink, msgget and IPC_RMID
 * of them touch nothing else. Under the emulation nobody owns files and directories in the
 * namespace, so it replaces each of them (and every entry inside a directory it owns) with a
 * symlink to a root-only target — a 0600 file, a 0700 directory holding decoys named like the
 * entries it replaced — before root (1) removes nobody's queues and (2) opens, uses, closes and
 * removes them. Root's own queue, created and removed afterwards, must work as on the kernel,
 * and every target must be unchanged (mode, owner, contents, entries). Calls on nobody's
 * sabotaged queues may succeed or be refused (EACCES, EIO, ENOENT, EIDRM, EINVAL: nobody
 * could as well have removed them). Each call is bounded (2 s). */
#include "harness.h"
#include "mqt_attack.h"

#define SECRET "root secret\n"

/* What the attacker replaces: files only (so root reaches them through nobody's directories,
 * which stay), directories only, or both. */
enum { PLANT_FILES = 1, PLANT_DIRS = 2 };
static int plant_what = PLANT_FILES | PLANT_DIRS;

static char target_file[512];
static char target_dir[512];

/* ------------------------------------------------------------------------------------------ */
/* targets and their snapshots                                                                */

struct snap_entry {
    char name[256];
    struct stat st;
    char head[64];
    ssize_t head_len;
};

struct snapshot {
    struct snap_entry file, dir;
    struct snap_entry entries[256];
    int nentries;
};

static void snap_one(int dirfd, const char *name, struct snap_entry *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    if (fstatat(dirfd, name, &e->st, AT_SYMLINK_NOFOLLOW) != 0) {
        e->head_len = -1;
        return;
    }
    if (S_ISREG(e->st.st_mode)) {
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        e->head_len = fd >= 0 ? read(fd, e->head, sizeof e->head) : -1;
        if (fd >= 0)
            close(fd);
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct snap_entry *)a)->name, ((const struct snap_entry *)b)->name);
}

static void take_snapshot(struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    snap_one(AT_FDCWD, target_file, &s->file);
    snap_one(AT_FDCWD, target_dir, &s->dir);
    int fd = open(target_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    while (d && s->nentries < 256 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snap_one(fd, de->d_name, &s->entries[s->nentries++]);
    }
    if (d)
        closedir(d);
    qsort(s->entries, (size_t)s->nentries, sizeof s->entries[0], by_name);
}

/* Prints what differs between two snapshots of one entry, to stdout (a difference from the
 * kernel's transcript); returns whether they are equal. */
static int same_entry(const char *what, const struct snap_entry *a, const struct snap_entry *b)
{
    int same = 1;
    if (a->head_len != b->head_len || memcmp(a->head, b->head, sizeof a->head) != 0) {
        printf("  %s: contents changed or removed\n", what);
        same = 0;
    }
    if (b->head_len >= 0 || S_ISDIR(a->st.st_mode)) {
        if (a->st.st_mode != b->st.st_mode) {
            printf("  %s: mode %o -> %o\n", what, (unsigned)a->st.st_mode, (unsigned)b->st.st_mode);
            same = 0;
        }
        if (a->st.st_uid != b->st.st_uid || a->st.st_gid != b->st.st_gid) {
            printf("  %s: owner %d:%d -> %d:%d\n", what, (int)a->st.st_uid, (int)a->st.st_gid,
                   (int)b->st.st_uid, (int)b->st.st_gid);
            same = 0;
        }
        if (a->st.st_ino != b->st.st_ino || a->st.st_size != b->st.st_size) {
            printf("  %s: replaced or resized\n", what);
            same = 0;
        }
    }
    return same;
}

static void check_targets(const struct snapshot *before)
{
    struct snapshot after;
    take_snapshot(&after);
    t_check("target file unchanged", same_entry("target file", &before->file, &after.file));
    int same = same_entry("target dir", &before->dir, &after.dir);
    if (before->nentries != after.nentries) {
        printf("  target dir: %d entries -> %d\n", before->nentries, after.nentries);
        same = 0;
    } else {
        for (int i = 0; i < after.nentries; i++) {
            if (strcmp(before->entries[i].name, after.entries[i].name) != 0) {
                printf("  target dir: entry %s -> %s\n", before->entries[i].name,
                       after.entries[i].name);
                same = 0;
            } else if (!same_entry(after.entries[i].name, &before->entries[i], &after.entries[i])) {
                same = 0;
            }
        }
    }
    t_check("target dir and its entries unchanged", same);
}

static void make_targets(void)
{
    snprintf(target_file, sizeof target_file, "/tmp/mqt-attack-target-%s-%d.file", t_runid,
             (int)getpid());
    snprintf(target_dir, sizeof target_dir, "/tmp/mqt-attack-target-%s-%d.dir", t_runid,
             (int)getpid());
    int fd = open(target_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    T_REQUIRE(fd >= 0);
    T_REQUIRE(write(fd, SECRET, strlen(SECRET)) == (ssize_t)strlen(SECRET));
    close(fd);
    T_REQUIRE(mkdir(target_dir, 0700) == 0);
    char keep[600];
    snprintf(keep, sizeof keep, "%s/keep", target_dir);
    fd = open(keep, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    T_REQUIRE(fd >= 0);
    T_REQUIRE(write(fd, SECRET, strlen(SECRET)) == (ssize_t)strlen(SECRET));
    close(fd);
}

/* Root: for every link planted to the target file, a decoy of the same name in the target
 * directory, so a call that follows a planted directory link finds files to harm. */
static int add_decoy(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (S_ISLNK(st->st_mode)) {
        char to[512];
        ssize_t n = readlinkat(dirfd, name, to, sizeof to - 1);
        if (n > 0) {
            to[n] = '\0';
            if (strcmp(to, target_file) == 0) {
                char path[900];
                snprintf(path, sizeof path, "%s/%s", target_dir, name);
                int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd >= 0) {
                    if (write(fd, SECRET, strlen(SECRET)) < 0) { /* the snapshot shows it */ }
                    close(fd);
                }
            }
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* the attacker                                                                               */

static int plants;

/* Replaces `name` (in dirfd) with a symlink to `to`: over a file by rename, over a directory by
 * RENAME_EXCHANGE (the directory stays aside under the temporary name). */
static void plant(int dirfd, const char *name, const char *to, int is_dir)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, ".plant-%d-%d", (int)getpid(), plants);
    if (symlinkat(to, dirfd, tmp) != 0)
        return;
    int r = is_dir ? renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE)
                   : renameat(dirfd, tmp, dirfd, name);
    if (r != 0) {
        unlinkat(dirfd, tmp, 0);
        return;
    }
    plants++;
}

static int nobody_may_replace(int dirfd, const struct stat *st)
{
    struct stat parent;
    if (fstat(dirfd, &parent) != 0)
        return 0;
    return st->st_uid == ATTACK_NOBODY || parent.st_uid == ATTACK_NOBODY;
}

/* First walk: every file-like entry nobody may replace. */
static int plant_files(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (S_ISDIR(st->st_mode))
        return 1;
    if (!S_ISLNK(st->st_mode) && nobody_may_replace(dirfd, st))
        plant(dirfd, name, target_file, 0);
    return 0;
}

/* Second walk: every directory nobody may replace (not descended into afterwards). */
static int plant_dirs(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (!S_ISDIR(st->st_mode))
        return 0;
    if (nobody_may_replace(dirfd, st)) {
        plant(dirfd, name, target_dir, 1);
        return 0;
    }
    return 1;
}

/* Nobody creates a POSIX and a System V queue (0600, one message each), hands root the SysV id,
 * plants its links and reports done. */
static void attacker(const char *qname, key_t key, t_chan *ids)
{
    attack_become_nobody();
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 32 };
    mqd_t q = EXPECT_OK(mq_open(qname, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    if (q != (mqd_t)-1) {
        EXPECT_EQ(mq_send(q, "from nobody", 11, 1), 0);
        EXPECT_EQ(mq_close(q), 0);
    }
    int id = (int)EXPECT_OK(msgget(key, IPC_CREAT | IPC_EXCL | 0600));
    if (id >= 0) {
        struct t_msg m = { .mtype = 1 };
        memcpy(m.mtext, "from nobody", 11);
        EXPECT_EQ(msgsnd(id, &m, 11, IPC_NOWAIT), 0);
    }
    if (plant_what & PLANT_FILES)
        attack_walk(plant_files, NULL);
    if (plant_what & PLANT_DIRS)
        attack_walk(plant_dirs, NULL);
    fprintf(stderr, "attack: nobody planted %d links\n", plants);
    T_REQUIRE(write(ids->wr, &id, sizeof id) == (ssize_t)sizeof id);
    exit(t_child_status());
}

/* ------------------------------------------------------------------------------------------ */
/* root                                                                                       */

/* A call on nobody's sabotaged queue: success or an honest refusal. */
static void outcome(const char *label, long r, int e)
{
    fprintf(stderr, "%s: %ld %s\n", label, r, r == -1 ? t_errno_name(e) : "");
    if (r != -1 || e == EACCES || e == EIO || e == ENOENT || e == EIDRM
        || e == EINVAL) {
        printf("%s: ok-or-refused\n", label);
    } else {
        printf("%s: -1 %s  !! MISMATCH\n", label, t_errno_name(e));
        t_failures++;
    }
}

#define BOUNDED(label, call) ATTACK_BOUNDED(label, 2000, call)

static int nobody_round(const char *tag)
{
    char qtag[64], ktag[64];
    snprintf(qtag, sizeof qtag, "%s-q", tag);
    snprintf(ktag, sizeof ktag, "%s-k", tag);
    const char *qname = t_qname(qtag);
    key_t key = attack_key(ktag);
    t_chan ids = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        attacker(qname, key, &ids);
    int id = -1;
    T_REQUIRE(read(ids.rd, &id, sizeof id) == (ssize_t)sizeof id);
    close(ids.rd);
    close(ids.wr);
    t_join(&c, 0);
    attack_walk(add_decoy, NULL);
    return id;
}

static void use_nobody_queues(const char *qname, key_t key)
{
    mqd_t q = BOUNDED("mq_open", mq_open(qname, O_RDWR | O_NONBLOCK));
    outcome("root mq_open(nobody's queue, O_RDWR)", (long)q, errno);
    if (q != (mqd_t)-1) {
        char buf[64];
        unsigned prio;
        long r = BOUNDED("mq_receive", mq_receive(q, buf, sizeof buf, &prio));
        outcome("root mq_receive", r, errno);
        r = BOUNDED("mq_send", mq_send(q, "from root", 9, 2));
        outcome("root mq_send", r, errno);
        r = BOUNDED("mq_close", mq_close(q));
        outcome("root mq_close", r, errno);
    } else {
        /* Refused: nothing to call on it, which is as safe as the kernel's answers. */
        outcome("root mq_receive", -1, EACCES);
        outcome("root mq_send", -1, EACCES);
        outcome("root mq_close", -1, EACCES);
    }
    int id = (int)BOUNDED("msgget", msgget(key, 0));
    outcome("root msgget(nobody's key, 0)", id, errno);
    if (id < 0) {
        outcome("root msgrcv", -1, EACCES);
        outcome("root msgsnd", -1, EACCES);
    } else {
        struct t_msg m;
        long r = BOUNDED("msgrcv", msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT));
        outcome("root msgrcv", r, errno);
        m.mtype = 2;
        memcpy(m.mtext, "from root", 9);
        r = BOUNDED("msgsnd", msgsnd(id, &m, 9, IPC_NOWAIT));
        outcome("root msgsnd", r, errno);
    }
}

static void remove_nobody_queues(const char *qname, int id)
{
    long r = BOUNDED("mq_unlink", mq_unlink(qname));
    outcome("root mq_unlink(nobody's queue)", r, errno);
    r = BOUNDED("msgctl", msgctl(id, IPC_RMID, NULL));
    outcome("root msgctl(nobody's queue, IPC_RMID)", r, errno);
}

static void root_own_queues(void)
{
    t_say("-- root creates, uses and removes queues of its own");
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 32 };
    const char *name = t_qname("root-q");
    attack_bound_arm("root's own queue", 2000);
    mqd_t q = EXPECT_OK(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    if (q != (mqd_t)-1) {
        char buf[64];
        unsigned prio;
        EXPECT_EQ(mq_send(q, "mine", 4, 3), 0);
        EXPECT_EQ(mq_receive(q, buf, sizeof buf, &prio), 4);
        EXPECT_EQ(mq_close(q), 0);
    }
    EXPECT_EQ(mq_unlink(name), 0);
    key_t key;
    int id = t_msgget_new("root-k", 0600, &key);
    struct t_msg m = { .mtype = 3 };
    memcpy(m.mtext, "mine", 4);
    EXPECT_EQ(msgsnd(id, &m, 4, IPC_NOWAIT), 0);
    EXPECT_EQ(msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT), 4);
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    attack_bound_disarm();
}

int main(int argc, char **argv)
{
    (void)argc;
    attack_namespace_setup(argv);
    umask(022);
    make_targets();
    /* Root touches the namespace first, as the default one would exist already. */
    root_own_queues();
    struct snapshot before;

    static const struct { const char *tag; int what; } rounds[] = {
        { "f", PLANT_FILES }, { "d", PLANT_DIRS }, { "b", PLANT_FILES | PLANT_DIRS },
    };
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        char one[16], two[16], q[32], k[32];
        plant_what = rounds[i].what;
        snprintf(one, sizeof one, "one%s", rounds[i].tag);
        snprintf(two, sizeof two, "two%s", rounds[i].tag);
        t_say("-- nobody creates queues and plants links (%s); root removes them",
              rounds[i].tag);
        int id = nobody_round(one);
        take_snapshot(&before);
        snprintf(q, sizeof q, "%s-q", one);
        remove_nobody_queues(t_qname(q), id);
        check_targets(&before);

        t_say("-- nobody creates queues and plants links (%s); root opens, uses and removes them",
              rounds[i].tag);
        id = nobody_round(two);
        take_snapshot(&before);
        snprintf(q, sizeof q, "%s-q", two);
        snprintf(k, sizeof k, "%s-k", two);
        use_nobody_queues(t_qname(q), attack_key(k));
        remove_nobody_queues(t_qname(q), id);
        check_targets(&before);
    }

    root_own_queues();
    check_targets(&before);

    attack_remove_tree(target_file);
    attack_remove_tree(target_dir);
    return t_finish();
}
