/* Shown failing on the code before the emulation's own locks (glibc robust mutexes in the
 * segments): root's process died of SIGSEGV — glibc, unlocking a queue lock, wrote through the
 * robust-list link that nobody had garbled while root held the lock. */
/* A user allowed to send to root's queues cannot kill root's process however it times what it
 * writes: on the kernel a queue's storage is the kernel's. Under the emulation the queues are
 * files (POSIX segment of a 0666 queue, System V registry and segment of a 0666 queue), and a
 * writer racing a process that holds a lock could make a lock that trusts its memory follow a
 * wild pointer (glibc's robust-list links) or take a path chosen by a type word changed between
 * check and use (glibc's mutex kind: SIGABRT).
 *
 * Nobody walks every regular file under the namespace it can open for writing (not knowing the
 * layout) and, word by word through the first 8 KiB of each, overwrites the 8-byte word again
 * and again with garbage for a while, then puts the old value back — while a root child sends
 * and receives on both queues without pause (POSIX: a non-blocking send, a timed receive of
 * what it sent, a non-blocking receive of nothing; msgsnd and msgrcv with IPC_NOWAIT, mq_getattr, IPC_STAT). A queue that answers EIO
 * is replaced by a new one. What the calls return is not judged (a writer that garbles a
 * queue's storage may make any result; README, "What another user can do"), only that each
 * returns within 2 s and that root's child ends by itself: "child exit -> 0"; a signal death
 * shows as its exit code (128 + signal). Counts go to stderr. On the kernel configurations
 * there is no file, and the child makes the same calls while nobody finds nothing. */
#include "harness.h"
#include "mqt_attack.h"
#include <sched.h>
#include <sys/mman.h>

#define BOUND_MS 2000
#define SPAN 8192                       /* bytes attacked in each file */
#define GARBLES_PER_WORD 300            /* writes of garbage before the word is put back */
#define PASSES 3
#define MIN_ROUNDS 300                  /* the victim's rounds at least (kernel: no attacker) */

struct shared {
    volatile int attacker_done;
    volatile int victim_started;
};
static struct shared *sh;

/* ------------------------------------------------------------------------------------------ */
/* nobody                                                                                     */

static off_t target_offset;
static unsigned long long garbage_state = 0x9e3779b97f4a7c15ull;
static long writes, files_seen;

static unsigned long long garbage(void)
{
    /* Wild pointers, small numbers, all ones, tids: what a lock's words may be turned into. */
    garbage_state = garbage_state * 6364136223846793005ull + 1442695040888963407ull;
    switch ((garbage_state >> 60) & 3) {
    case 0: return 0xa5a5a5a5a5a5a5a5ull;
    case 1: return garbage_state >> 48;
    case 2: return ~0ull;
    default: return garbage_state;
    }
}

static int garble_word(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (!S_ISREG(st->st_mode))
        return S_ISDIR(st->st_mode);
    if (st->st_size < target_offset + 8)
        return 0;
    int fd = attack_open_for_writing(dirfd, name);
    if (fd < 0)
        return 0;
    files_seen++;
    unsigned long long old;
    if (pread(fd, &old, sizeof old, target_offset) == (ssize_t)sizeof old) {
        for (int i = 0; i < GARBLES_PER_WORD; i++) {
            unsigned long long g = garbage();
            if (pwrite(fd, &g, sizeof g, target_offset) == (ssize_t)sizeof g)
                writes++;
        }
        if (pwrite(fd, &old, sizeof old, target_offset) < 0) { /* the file may be gone */ }
    }
    close(fd);
    return 0;
}

static void attacker(void)
{
    attack_become_nobody();
    while (!sh->victim_started)
        sched_yield();
    for (int pass = 0; pass < PASSES; pass++)
        for (target_offset = 0; target_offset < SPAN; target_offset += 8)
            attack_walk(garble_word, NULL);
    fprintf(stderr, "attack: %ld garbage writes in %ld file visits\n", writes, files_seen);
    sh->attacker_done = 1;
    exit(0);
}

/* ------------------------------------------------------------------------------------------ */
/* root                                                                                       */

#define BOUNDED(label, call) ATTACK_BOUNDED(label, BOUND_MS, call)

/* Generation `generation` of the POSIX queue: `*q` non-blocking, `*qb` blocking. */
static void posix_new(int generation, mqd_t *q, mqd_t *qb)
{
    char tag[32];
    snprintf(tag, sizeof tag, "cw%d", generation);
    struct mq_attr a = { .mq_maxmsg = 8, .mq_msgsize = 64 };
    mode_t old = umask(0);
    *q = BOUNDED("mq_open", mq_open(t_qname(tag), O_RDWR | O_CREAT | O_NONBLOCK, 0666, &a));
    *qb = BOUNDED("mq_open", mq_open(t_qname(tag), O_RDWR));
    umask(old);
}

static void posix_drop(mqd_t q, mqd_t qb, int generation)
{
    char tag[32];
    snprintf(tag, sizeof tag, "cw%d", generation);
    if (q != (mqd_t)-1)
        BOUNDED("mq_close", mq_close(q));
    if (qb != (mqd_t)-1)
        BOUNDED("mq_close", mq_close(qb));
    BOUNDED("mq_unlink", mq_unlink(t_qname(tag)));
}

static void victim(void)
{
    int pgen = 0, sgen = 0;
    long rounds = 0, eio = 0, other = 0, replaced = 0;
    mqd_t q, qb;
    posix_new(pgen, &q, &qb);
    int id = (int)BOUNDED("msgget", msgget(IPC_PRIVATE, IPC_CREAT | 0666));
    sh->victim_started = 1;
    while (rounds < MIN_ROUNDS || !sh->attacker_done) {
        rounds++;
        int posix_eio = 0, sysv_eio = 0;
        char buf[8192];
        unsigned prio;
        long r;
#define COUNT(call, ok_errno, flag) \
        do { r = (call); if (r < 0) { if (errno == EIO) { eio++; flag = 1; } \
             else if (errno != (ok_errno)) other++; } } while (0)
        if (q != (mqd_t)-1 && qb != (mqd_t)-1) {
            COUNT(BOUNDED("mq_send", mq_send(q, "ping", 4, 1)), EAGAIN, posix_eio);
            struct timespec dl = t_deadline_ms(5);
            COUNT(BOUNDED("mq_timedreceive", mq_timedreceive(qb, buf, sizeof buf, &prio, &dl)),
                  ETIMEDOUT, posix_eio);
            COUNT(BOUNDED("mq_receive", mq_receive(q, buf, sizeof buf, &prio)), EAGAIN, posix_eio);
            struct mq_attr a;
            COUNT(BOUNDED("mq_getattr", mq_getattr(q, &a)), 0, posix_eio);
        }
        if (id >= 0) {
            struct t_msg m = { .mtype = 1 };
            memcpy(m.mtext, "pong", 4);
            COUNT(BOUNDED("msgsnd", msgsnd(id, &m, 4, IPC_NOWAIT)), EAGAIN, sysv_eio);
            COUNT(BOUNDED("msgrcv", msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT)), ENOMSG, sysv_eio);
            struct msqid_ds ds;
            COUNT(BOUNDED("msgctl IPC_STAT", msgctl(id, IPC_STAT, &ds)), 0, sysv_eio);
        }
        if (posix_eio || q == (mqd_t)-1 || qb == (mqd_t)-1) {
            posix_drop(q, qb, pgen);
            posix_new(++pgen, &q, &qb);
            replaced++;
        }
        if (sysv_eio || id < 0) {
            if (id >= 0)
                BOUNDED("msgctl IPC_RMID", msgctl(id, IPC_RMID, NULL));
            id = (int)BOUNDED("msgget", msgget(IPC_PRIVATE, IPC_CREAT | 0666));
            sgen++;
            replaced++;
        }
    }
    posix_drop(q, qb, pgen);
    if (id >= 0)
        BOUNDED("msgctl IPC_RMID", msgctl(id, IPC_RMID, NULL));
    fprintf(stderr, "victim: %ld rounds, %ld EIO, %ld other errors, %ld queues replaced\n",
            rounds, eio, other, replaced);
    printf("victim: every call returned within %d ms\n", BOUND_MS);
}

int main(int argc, char **argv)
{
    (void)argc;
    attack_namespace_setup(argv);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    T_REQUIRE(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);

    t_say("root uses its queues while nobody writes into every file it can, word by word");
    pid_t nobody = t_fork();
    if (nobody == 0)
        attacker();
    t_child c = t_spawn();
    if (c.pid == 0) {
        victim();
        exit(t_child_status());
    }
    t_join(&c, 0);
    sh->attacker_done = 1;
    sh->victim_started = 1;
    int code = t_reap(nobody);
    if (code != 0)
        printf("attacker exit -> %d  !! MISMATCH\n", code);
    return t_finish();
}
