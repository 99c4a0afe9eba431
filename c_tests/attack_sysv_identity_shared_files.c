/* Shown failing on the code before (main at bbaf9f6, shim-emulate): after nobody zeroed the
 * files it could write, root's msgget(K, 0) was ENOENT and msgget(K, IPC_CREAT) made a second
 * queue of key K (the key gone from the registry's key table), nobody's msgget(K,
 * IPC_CREAT|0600) made one of its own, and IPC_STAT and msgrcv on both of root's queues were
 * EINVAL (their registry entries cleared); after the garbage round msgget was EIO and root
 * could not remove its queues (IPC_RMID EIO). */
/* Keys, ids, modes and ownership of System V queues survive a hostile user with a text
 * editor: on the kernel they are the kernel's, and no user can touch another's queue beyond
 * what its mode allows. Root makes a queue of key K and an IPC_PRIVATE queue, both 0600, each
 * holding m1 m2. Nobody then, in rounds, (1) writes zeros over every regular file of the
 * namespace it can open for writing, keeping its size, and tries to remove or rename every
 * entry; (2) writes garbage over them and extends them. After each round nobody asks
 * msgget(K, IPC_CREAT|0600) — the kernel's EACCES, since the queue is root's and 0600, not a
 * queue of its own — and root checks both queues: msgget(K) is the same id (IPC_CREAT too:
 * no second queue), IPC_STAT shows key, mode 0600, owner and creator root and the messages
 * root expects, and the next message comes out. Root then makes a new queue: that works on
 * the kernel; under the emulation a user who may write the shared registry can still deny
 * creation (ENOSPC, EAGAIN or EIO, as filling the kernel's table would), printed
 * "kernel-or-denied". Root removes its queues at the end. Every call is bounded (2 s). */
#include "harness.h"
#include "mqt_attack.h"

#define BOUND_MS 2000

#define BOUNDED(label, call) ATTACK_BOUNDED(label, BOUND_MS, call)

static key_t victim_key;
static int keyed_id, private_id;

/* ------------------------------------------------------------------------------------------ */
/* the attacker                                                                               */

static int hits;

/* Whatever the entry is: removed, or renamed aside and back, if the directory lets nobody. */
static void try_remove_or_rename(int dirfd, const char *name, const struct stat *st)
{
    char aside[300];
    snprintf(aside, sizeof aside, "%s.nobody", name);
    if (renameat(dirfd, name, dirfd, aside) == 0) {
        hits++;
        if (renameat(dirfd, aside, dirfd, name) != 0)
            fprintf(stderr, "attack: could not rename %s back\n", name);
    }
    if (!S_ISDIR(st->st_mode) && unlinkat(dirfd, name, 0) == 0)
        hits++;
}

/* Zeros over the whole file, its size kept. */
static void write_zeros(int fd, const struct stat *st)
{
    static char zeros[65536];
    for (off_t at = 0; at < st->st_size; at += (off_t)sizeof zeros) {
        size_t n = st->st_size - at < (off_t)sizeof zeros ? (size_t)(st->st_size - at) : sizeof zeros;
        if (pwrite(fd, zeros, n, at) == (ssize_t)n)
            hits++;
    }
}

/* Garbage over the whole file and past its end. */
static void write_garbage(int fd, const struct stat *st)
{
    static char junk[65536];
    memset(junk, 0xa5, sizeof junk);
    for (off_t at = 0; at < st->st_size + (off_t)sizeof junk; at += (off_t)sizeof junk)
        if (pwrite(fd, junk, sizeof junk, at) == (ssize_t)sizeof junk)
            hits++;
}

struct round {
    void (*write_over)(int fd, const struct stat *st);
};

/* One round's visit (`arg` a struct round): a regular file nobody can write is written over;
 * then whatever the entry is, nobody tries to remove or rename it. Directories are entered. */
static int overwrite_entry(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    const struct round *round = arg;
    if (S_ISDIR(st->st_mode))
        return 1;
    if (S_ISREG(st->st_mode)) {
        int fd = attack_open_for_writing(dirfd, name);
        if (fd >= 0) {
            round->write_over(fd, st);
            close(fd);
        }
    }
    try_remove_or_rename(dirfd, name, st);
    return 0;
}

/* What nobody's own msgget of root's key gives: the kernel's EACCES. */
static void nobody_msgget(void)
{
    long r = BOUNDED("nobody msgget", msgget(victim_key, IPC_CREAT | 0600));
    int e = errno;
    if (r == -1 && e == EACCES) {
        printf("nobody: msgget(K, IPC_CREAT|0600) -> EACCES\n");
    } else {
        printf("nobody: msgget(K, IPC_CREAT|0600) -> %s  !! MISMATCH (expected EACCES)\n",
               r == -1 ? t_errno_name(e) : r == keyed_id ? "root's id" : "a new queue");
        t_failures++;
        if (r >= 0 && r != keyed_id)
            msgctl((int)r, IPC_RMID, NULL);
    }
}

static void attacker(t_chan *go, t_chan *done)
{
    attack_become_nobody();
    struct round rounds[] = { { write_zeros }, { write_garbage } };
    for (unsigned i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        t_chan_wait(go);
        hits = 0;
        attack_walk(overwrite_entry, &rounds[i]);
        fprintf(stderr, "attack: round %u, %d writes/renames/removals\n", i + 1, hits);
        nobody_msgget();
        fflush(stdout);
        t_chan_post(done);
    }
    exit(t_child_status());
}

/* ------------------------------------------------------------------------------------------ */
/* root                                                                                       */

static void judge(const char *label, int as_kernel, long r, int e)
{
    attack_judge(label, as_kernel, "as kernel", r, e);
}

static void check_identity(const char *what, int id, key_t key, unsigned long qnum)
{
    char label[96];
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    snprintf(label, sizeof label, "%s IPC_STAT", what);
    long r = BOUNDED(label, msgctl(id, IPC_STAT, &ds));
    int e = errno;
    judge(label, r == 0 && ds.msg_perm.__key == key && (ds.msg_perm.mode & 0777) == 0600
          && ds.msg_perm.uid == 0 && ds.msg_perm.cuid == 0 && ds.msg_perm.gid == 0
          && ds.msg_perm.cgid == 0 && ds.msg_qnum == qnum, r, e);
}

static void receive(const char *what, int id, const char *want)
{
    char label[96];
    struct t_msg m;
    memset(&m, 0, sizeof m);
    snprintf(label, sizeof label, "%s msgrcv", what);
    long r = BOUNDED(label, msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT));
    int e = errno;
    judge(label, r == (long)strlen(want) && memcmp(m.mtext, want, strlen(want)) == 0, r, e);
}

static int round_no;

static void root_checks(void)
{
    long r = BOUNDED("msgget(K, 0)", msgget(victim_key, 0));
    judge("msgget(K, 0) is the same id", r == keyed_id, r, errno);
    r = BOUNDED("msgget(K, IPC_CREAT|0600)", msgget(victim_key, IPC_CREAT | 0600));
    judge("msgget(K, IPC_CREAT|0600) is the same id", r == keyed_id, r, errno);
    r = BOUNDED("msgget(K, IPC_CREAT|IPC_EXCL)", msgget(victim_key, IPC_CREAT | IPC_EXCL | 0600));
    judge("msgget(K, IPC_CREAT|IPC_EXCL) is EEXIST", r == -1 && errno == EEXIST, r, errno);
    unsigned long left = round_no == 1 ? 2 : 1;
    check_identity("keyed queue", keyed_id, victim_key, left);
    check_identity("private queue", private_id, IPC_PRIVATE, left);
    receive("keyed queue", keyed_id, round_no == 1 ? "m1" : "m2");
    receive("private queue", private_id, round_no == 1 ? "m1" : "m2");

    /* A new queue: the kernel's; or denied by whoever garbled the shared registry. */
    int id = (int)BOUNDED("msgget IPC_PRIVATE", msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    int e = errno;
    if (id >= 0 || e == ENOSPC || e == EAGAIN || e == EIO) {
        printf("new queue: kernel-or-denied\n");
    } else {
        printf("new queue: -1 %s  !! MISMATCH\n", t_errno_name(e));
        t_failures++;
    }
    /* Made: it must be another queue, and go (printed only when it does not). */
    if (id >= 0) {
        int other = id != keyed_id && id != private_id;
        r = BOUNDED("msgctl IPC_RMID new", msgctl(id, IPC_RMID, NULL));
        if (!other || r != 0)
            judge("new queue is another and goes", 0, r, errno);
    }
}

static void root_removes(void)
{
    long r = BOUNDED("msgctl IPC_RMID keyed", msgctl(keyed_id, IPC_RMID, NULL));
    judge("keyed queue IPC_RMID", r == 0, r, errno);
    r = BOUNDED("msgctl IPC_RMID private", msgctl(private_id, IPC_RMID, NULL));
    judge("private queue IPC_RMID", r == 0, r, errno);
    r = BOUNDED("msgget(K, 0) after", msgget(victim_key, 0));
    judge("msgget(K, 0) after removal is ENOENT", r == -1 && errno == ENOENT, r, errno);
}

int main(int argc, char **argv)
{
    (void)argc;
    attack_namespace_setup(argv);
    umask(0);
    keyed_id = t_msgget_new("victim", 0600, &victim_key);
    private_id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    T_REQUIRE(private_id >= 0);
    static const char *texts[] = { "m1", "m2" };
    for (unsigned i = 0; i < 2; i++) {
        struct t_msg m = { .mtype = 1 };
        memcpy(m.mtext, texts[i], 2);
        T_REQUIRE(msgsnd(keyed_id, &m, 2, IPC_NOWAIT) == 0);
        T_REQUIRE(msgsnd(private_id, &m, 2, IPC_NOWAIT) == 0);
    }
    t_say("root: a queue of key K and a private queue, both 0600, holding m1 m2");

    t_chan go = t_chan_open(), done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        attacker(&go, &done);

    static const char *rounds[] = {
        "-- nobody zeroed every file it can write and tried to remove or rename every entry",
        "-- nobody wrote garbage over every file it can write and extended it",
    };
    for (round_no = 1; round_no <= 2; round_no++) {
        t_chan_post(&go);
        t_chan_wait(&done);
        t_say("%s", rounds[round_no - 1]);
        attack_group("root's queues:", root_checks);
    }
    t_join(&c, 0);
    attack_group("root removes its queues:", root_removes);
    t_say("survived");
    return t_finish();
}
