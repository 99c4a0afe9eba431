/* mqt: */
/* Worked against the emulation before the namespace lost its lock file: nobody's flock(LOCK_EX) on the world-writable
 * posix.lock blocks root's mq_open (existing queue, with O_NONBLOCK, and O_CREAT of a new one)
 * and mq_unlink indefinitely; System V calls are unaffected, and OFD and process locks alone
 * stall nothing. */
/* Another user's file locks cannot stall a process's queue calls: on the kernel no lock a user
 * can take touches message queues, so non-blocking calls return at once and timed calls by their
 * deadline. Under the emulation nobody opens every file and directory under the namespace it can
 * open (read-write, write-only or read-only, FIFOs without blocking) and takes on each an OFD
 * lock (F_OFD_SETLK), a process lock (F_SETLK) — write locks where the descriptor allows, else
 * read locks — and flock(LOCK_EX|LOCK_NB) (else LOCK_SH), then holds them while root opens,
 * creates, uses, closes and removes POSIX and System V queues. Every call must give the kernel's
 * result, a non-blocking one within 200 ms and mq_timedreceive within its 100 ms deadline plus
 * 200 ms ("within bound: yes"); a call stuck for 1 s ends its group of calls (a child of root's). */
#include "harness.h"
#include "mqt_attack.h"
#include <sys/file.h>

#define SLACK_MS 200
#define STUCK_MS 1000

/* ------------------------------------------------------------------------------------------ */
/* the attacker                                                                               */

static int locks;

static int lock_one(int fd, int cmd, int writable)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_whence = SEEK_SET;     /* l_start 0, l_len 0: the whole file */
    fl.l_type = writable ? F_WRLCK : F_RDLCK;
    if (fcntl(fd, cmd, &fl) == 0)
        return 1;
    fl.l_type = F_RDLCK;
    return writable && fcntl(fd, cmd, &fl) == 0;
}

static int lock_entry(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (S_ISLNK(st->st_mode))
        return 0;
    int base = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    int fd = -1, writable = 0;
    if (!S_ISDIR(st->st_mode)) {
        fd = openat(dirfd, name, O_RDWR | base);
        if (fd < 0)
            fd = openat(dirfd, name, O_WRONLY | base);
        writable = fd >= 0;
    }
    if (fd < 0)
        fd = openat(dirfd, name, O_RDONLY | base);
    if (fd >= 0) {
        /* OFD and process locks on one file conflict even within a process: the first that
         * succeeds is held, the other fails or is a read lock beside it. Kept open on exit. */
        locks += lock_one(fd, F_OFD_SETLK, writable);
        locks += lock_one(fd, F_SETLK, writable);
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 || flock(fd, LOCK_SH | LOCK_NB) == 0)
            locks++;
    }
    return S_ISDIR(st->st_mode);
}

/* Nobody: lock everything, say so, hold the locks until told, lock again whatever appeared
 * meanwhile, and so on for `rounds` rounds. */
static void attacker(t_chan *go, t_chan *done, int rounds)
{
    attack_become_nobody();
    for (int i = 0; i < rounds; i++) {
        t_chan_wait(go);
        attack_walk(lock_entry, NULL);
        fprintf(stderr, "attack: round %d, %d locks held\n", i + 1, locks);
        t_chan_post(done);
    }
    t_chan_wait(go);
    exit(t_child_status());
}

/* ------------------------------------------------------------------------------------------ */
/* root                                                                                       */

/* Runs `call`, prints "<label> -> <result>" like EXPECT_* and whether it returned in time. */
#define TIMED(label, call, want_r, want_e, limit_ms) \
    ({ attack_bound_arm(label, STUCK_MS); long long t0_ = attack_now_ms(); errno = 0; \
       long r_ = (long)(call); int e_ = errno; long long dt_ = attack_now_ms() - t0_; \
       attack_bound_disarm(); report(label, r_, e_, want_r, want_e, dt_, limit_ms); r_; })

/* want_r: the result wanted (-1 with want_e for an error; -2: any success, printed "ok"). */
static void report(const char *label, long r, int e, long want_r, int want_e, long long dt,
                   long long limit)
{
    int ok = want_r == -1 ? (r == -1 && e == want_e) : want_r == -2 ? r >= 0 : r == want_r;
    if (r == -1)
        printf("%s -> -1 %s", label, t_errno_name(e));
    else if (want_r == -2)
        printf("%s -> ok", label);
    else
        printf("%s -> %ld", label, r);
    printf(", within bound: %s", dt <= limit ? "yes" : "no");
    if (!ok || dt > limit) {
        t_failures++;
        printf("  !! MISMATCH");
        if (dt > limit)
            fprintf(stderr, "%s took %lld ms (bound %lld)\n", label, dt, limit);
    }
    printf("\n");
}

static const char *existing, *created;
static key_t key_existing, key_created;
static int id_existing;
static struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 32 };

static void posix_existing(void)
{
    mqd_t qn = (mqd_t)TIMED("mq_open(existing, O_RDWR|O_NONBLOCK)",
                            mq_open(existing, O_RDWR | O_NONBLOCK), -2, 0, SLACK_MS);
    mqd_t qb = (mqd_t)TIMED("mq_open(existing, O_RDWR)", mq_open(existing, O_RDWR), -2, 0, SLACK_MS);
    char buf[64];
    unsigned prio;
    if (qn != (mqd_t)-1)
        TIMED("mq_receive(empty, O_NONBLOCK)", mq_receive(qn, buf, sizeof buf, &prio), -1, EAGAIN,
              SLACK_MS);
    if (qb != (mqd_t)-1) {
        struct timespec dl = t_deadline_ms(100);
        TIMED("mq_timedreceive(empty, 100 ms)", mq_timedreceive(qb, buf, sizeof buf, &prio, &dl),
              -1, ETIMEDOUT, 100 + SLACK_MS);
    }
    if (qn != (mqd_t)-1)
        TIMED("mq_close(O_NONBLOCK)", mq_close(qn), 0, 0, SLACK_MS);
    if (qb != (mqd_t)-1)
        TIMED("mq_close", mq_close(qb), 0, 0, SLACK_MS);
}

static void posix_new(void)
{
    mqd_t qc = (mqd_t)TIMED("mq_open(new, O_CREAT|O_EXCL)",
                            mq_open(created, O_RDWR | O_CREAT | O_EXCL, 0666, &attr), -2, 0, SLACK_MS);
    if (qc != (mqd_t)-1) {
        char buf[64];
        unsigned prio;
        TIMED("mq_send(new)", mq_send(qc, "hi", 2, 1), 0, 0, SLACK_MS);
        TIMED("mq_receive(new)", mq_receive(qc, buf, sizeof buf, &prio), 2, 0, SLACK_MS);
        TIMED("mq_close(new)", mq_close(qc), 0, 0, SLACK_MS);
    }
}

static void sysv_existing(void)
{
    /* 0: the existing queue's id, 1: another one. */
    TIMED("msgget(existing key, 0) is the existing id",
          ({ int i_ = msgget(key_existing, 0); i_ == id_existing ? 0 : i_ < 0 ? -1 : 1; }), 0, 0,
          SLACK_MS);
    struct t_msg m;
    TIMED("msgrcv(empty, IPC_NOWAIT)", msgrcv(id_existing, &m, sizeof m.mtext, 0, IPC_NOWAIT), -1,
          ENOMSG, SLACK_MS);
    m.mtype = 1;
    memcpy(m.mtext, "hi", 2);
    TIMED("msgsnd(IPC_NOWAIT)", msgsnd(id_existing, &m, 2, IPC_NOWAIT), 0, 0, SLACK_MS);
    TIMED("msgrcv(IPC_NOWAIT)", msgrcv(id_existing, &m, sizeof m.mtext, 0, IPC_NOWAIT), 2, 0,
          SLACK_MS);
}

static void sysv_new(void)
{
    TIMED("msgget(new key, IPC_CREAT|IPC_EXCL)", msgget(key_created, IPC_CREAT | IPC_EXCL | 0666),
          -2, 0, SLACK_MS);
    int idp = (int)TIMED("msgget(IPC_PRIVATE)", msgget(IPC_PRIVATE, 0600), -2, 0, SLACK_MS);
    if (idp >= 0)
        TIMED("msgctl(private, IPC_RMID)", msgctl(idp, IPC_RMID, NULL), 0, 0, SLACK_MS);
}

static void posix_remove(void)
{
    TIMED("mq_unlink(existing)", mq_unlink(existing), 0, 0, SLACK_MS);
    TIMED("mq_unlink(new)", mq_unlink(created), 0, 0, SLACK_MS);
}

static void sysv_remove(void)
{
    TIMED("msgctl(existing, IPC_RMID)", msgctl(id_existing, IPC_RMID, NULL), 0, 0, SLACK_MS);
    int id = (int)TIMED("msgget(new key, 0)", msgget(key_created, 0), -2, 0, SLACK_MS);
    if (id >= 0)
        TIMED("msgctl(new, IPC_RMID)", msgctl(id, IPC_RMID, NULL), 0, 0, SLACK_MS);
}

int main(int argc, char **argv)
{
    (void)argc;
    attack_namespace_setup(argv);
    umask(0);
    existing = t_qname("existing");
    created = t_qname("created");
    key_created = attack_key("created");
    mqd_t q0 = mq_open(existing, O_RDWR | O_CREAT | O_EXCL, 0666, &attr);
    T_REQUIRE(q0 != (mqd_t)-1);
    id_existing = t_msgget_new("existing", 0666, &key_existing);
    t_say("root: POSIX and System V queues of mode 0666, empty");

    t_chan go = t_chan_open(), done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        attacker(&go, &done, 2);
    t_chan_post(&go);
    t_chan_wait(&done);
    t_say("-- nobody holds locks on everything under the namespace it can open");
    attack_group("POSIX, existing queue:", posix_existing);
    attack_group("POSIX, new queue:", posix_new);
    attack_group("System V, existing queue:", sysv_existing);
    attack_group("System V, new queues:", sysv_new);

    /* The attacker locks again what root created meanwhile, before root removes it all. */
    t_chan_post(&go);
    t_chan_wait(&done);
    t_say("-- nobody also locks what root created meanwhile");
    TIMED("mq_close(root's first descriptor)", mq_close(q0), 0, 0, SLACK_MS);
    attack_group("POSIX, removal:", posix_remove);
    attack_group("System V, removal:", sysv_remove);

    t_chan_post(&go);
    t_join(&c, 0);
    return t_finish();
}
