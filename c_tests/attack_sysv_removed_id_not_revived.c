/* A removed System V queue's id stays dead for a process that used it, whatever another user
 * puts where the queue was: on the kernel a removed id is EINVAL (its sequence number is not
 * given out again for a long time), and nobody can make root's process send into a queue of
 * nobody's, or receive from one, by that id.
 *
 * Root makes a private queue X, 0600, and uses it (a message in and out). Nobody makes a queue
 * of its own, 0666, and notes the entries of the namespace (on the kernel there is none). A
 * child of root removes X and exits (in a second round, root's process removes a queue X2 itself,
 * after an IPC_SET, which keeps the emulation from keeping its segment). Nobody then moves every regular file it owns onto each
 * entry that vanished, and rewrites, in the first 64 KiB of it, every aligned 32-bit word that
 * holds its own queue's id, or that id plus one, with X's (plus one): a segment that
 * claims to be queue X, live, nobody's and open to all. Root's process then sends a secret to X, receives from it and asks its status:
 * EINVAL each time, as on the kernel, and nobody finds no secret in its files (which it then
 * removes, before the next round).
 * (Shown failing on the code before, shim-emulate: the send succeeded, the receive gave the
 * secret back, IPC_STAT showed nobody's queue, and nobody found the secret in its file; with
 * the remover's own memory of the id taken out, the same in the second round.) (Root first
 * makes and removes 5000 queues, so that the ids are not small numbers that other words of a
 * file could hold too.) */
#include "harness.h"
#include "mqt_attack.h"

#define MAX_ENTRIES 256

static char secret[64];
/* Names of the namespace's entries other than directories (d_name is at most 255 bytes). */
static char before[MAX_ENTRIES][256];
static int nbefore;
static char vanished[MAX_ENTRIES][256];
static int nvanished;

static int note_entry(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)dirfd;
    (void)depth;
    (void)arg;
    if (nbefore < MAX_ENTRIES && !S_ISDIR(st->st_mode))
        memcpy(before[nbefore++], name, strnlen(name, 255) + 1);
    return S_ISDIR(st->st_mode);
}

static int still_there(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)dirfd;
    (void)depth;
    (void)st;
    int *seen = arg;
    for (int i = 0; i < nbefore; i++)
        if (strcmp(before[i], name) == 0)
            seen[i] = 1;
    return S_ISDIR(st->st_mode);
}

/* Every regular file nobody owns: moved onto each vanished name in its directory (the first
 * that takes it), and X's id written where nobody's own id was. */
static int forged_id_from, forged_id_to;
static int forged;

static int plant(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (!S_ISREG(st->st_mode) || st->st_uid != ATTACK_NOBODY)
        return S_ISDIR(st->st_mode);
    for (int i = 0; i < nvanished; i++) {
        if (renameat(dirfd, name, dirfd, vanished[i]) != 0)
            continue;
        int fd = openat(dirfd, vanished[i], O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            int32_t word;
            for (off_t at = 0; at < 65536; at += 4) {
                if (pread(fd, &word, 4, at) != 4)
                    break;
                int32_t d = word - forged_id_from;
                int32_t to = forged_id_to + d;
                if ((d == 0 || d == 1) && pwrite(fd, &to, 4, at) == 4)
                    forged++;
            }
            close(fd);
        }
        return 0;
    }
    return 0;
}

static int secret_found;

/* Removes every regular file nobody owns (its forgery of the round, and its own queue). */
static int remove_own(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (S_ISREG(st->st_mode) && st->st_uid == ATTACK_NOBODY)
        unlinkat(dirfd, name, 0);
    return S_ISDIR(st->st_mode);
}

static int search(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (!S_ISREG(st->st_mode) || st->st_uid != ATTACK_NOBODY)
        return S_ISDIR(st->st_mode);
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char *buf = malloc(1 << 20);
    ssize_t n;
    off_t at = 0;
    while (buf && (n = pread(fd, buf, 1 << 20, at)) > 0) {
        if (memmem(buf, n, secret, strlen(secret)))
            secret_found = 1;
        at += n;
    }
    free(buf);
    close(fd);
    return 0;
}

/* Nobody, in each round: a queue of its own and the entries, then (when told, with the
 * removed queue's id) the forgery, then (when told again) the search. */
static void attacker(t_chan *go, t_chan *done, int id_fd)
{
    attack_become_nobody();
    for (int round = 0; round < 2; round++) {
        t_chan_wait(go);
        /* Not through EXPECT_*: nobody's calls are not traced (it may not write root's trace). */
        int own = msgget(IPC_PRIVATE, 0666);
        t_check("nobody made a queue of its own", own >= 0);
        nbefore = nvanished = forged = 0;
        attack_walk(note_entry, NULL);
        t_chan_post(done);
        int x;
        T_REQUIRE(read(id_fd, &x, sizeof x) == (ssize_t)sizeof x);
        int seen[MAX_ENTRIES] = { 0 };
        attack_walk(still_there, seen);
        for (int i = 0; i < nbefore; i++)
            if (!seen[i] && nvanished < MAX_ENTRIES)
                memcpy(vanished[nvanished++], before[i], sizeof before[i]);
        forged_id_from = own;
        forged_id_to = x;
        attack_walk(plant, NULL);
        fprintf(stderr, "attack: %d names vanished, %d words forged\n", nvanished, forged);
        t_chan_post(done);
        t_chan_wait(go);
        secret_found = 0;
        attack_walk(search, NULL);
        t_check("nobody finds no secret of root's in its files", !secret_found);
        msgctl(own, IPC_RMID, NULL);
        attack_walk(remove_own, NULL);
    }
    exit(t_child_status());
}

/* Root's process uses the removed queue `x` after nobody's forgery. */
static void use_removed(int x)
{
    struct t_msg m;
    m.mtype = 1;
    memcpy(m.mtext, secret, strlen(secret));
    EXPECT_ERR(msgsnd(x, &m, strlen(secret), IPC_NOWAIT), EINVAL);
    EXPECT_ERR(msgrcv(x, &m, sizeof m.mtext, 0, IPC_NOWAIT), EINVAL);
    struct msqid_ds ds;
    EXPECT_ERR(msgctl(x, IPC_STAT, &ds), EINVAL);
}

/* A private queue of root's, 0600, used (a message in and out). */
static int used_queue(void)
{
    int x = msgget(IPC_PRIVATE, 0600);
    T_REQUIRE(x >= 0);
    struct t_msg m;
    m.mtype = 1;
    memcpy(m.mtext, "first", 5);
    EXPECT_OK(msgsnd(x, &m, 5, IPC_NOWAIT));
    EXPECT_OK(msgrcv(x, &m, sizeof m.mtext, 0, IPC_NOWAIT));
    return x;
}

int main(int argc, char **argv)
{
    (void)argc;
    attack_namespace_setup(argv);
    snprintf(secret, sizeof secret, "mqt-secret-%d-%ld", (int)getpid(), (long)time(NULL));
    int id_pipe[2];
    t_pipe_cloexec(id_pipe);
    for (int i = 0; i < 5000; i++) {
        int id = msgget(IPC_PRIVATE, 0600);
        T_REQUIRE(id >= 0 && msgctl(id, IPC_RMID, NULL) == 0);
    }
    int x = used_queue();
    /* Forked after root's first call, so that nobody inherits the trace's descriptor. */
    t_chan go = t_chan_open(), done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        attacker(&go, &done, id_pipe[0]);

    t_say("root: a private queue X, 0600, used");
    t_chan_post(&go);
    t_chan_wait(&done);
    pid_t remover = t_fork();
    if (remover == 0) {
        EXPECT_OK(msgctl(x, IPC_RMID, NULL));
        exit(t_child_status());
    }
    t_say("root's child removed X and exited with %d", t_reap(remover));
    T_REQUIRE(write(id_pipe[1], &x, sizeof x) == (ssize_t)sizeof x);
    t_chan_wait(&done);
    t_say("-- nobody put what it could where X was");
    use_removed(x);
    t_chan_post(&go);

    x = used_queue();
    struct msqid_ds ds;
    EXPECT_OK(msgctl(x, IPC_STAT, &ds));
    EXPECT_OK(msgctl(x, IPC_SET, &ds));
    t_say("root: another, X2, used and its mode set again");
    t_chan_post(&go);
    t_chan_wait(&done);
    EXPECT_OK(msgctl(x, IPC_RMID, NULL));
    t_say("root removed X2 itself");
    T_REQUIRE(write(id_pipe[1], &x, sizeof x) == (ssize_t)sizeof x);
    t_chan_wait(&done);
    t_say("-- nobody put what it could where X2 was");
    use_removed(x);
    t_chan_post(&go);
    t_join(&c, 0);
    return t_finish();
}
