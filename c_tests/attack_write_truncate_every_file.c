/* mqt: */
/* Shown failing on the code before the SIGBUS containment: root's calls died of SIGBUS once
 * nobody truncated the files it could write (the truncation round is also pinned by
 * attack_truncated_segment_no_sigbus). Then, until a process checked a POSIX queue's attributes
 * against its own copy (taken when it opened the queue) rather than the shared header's, the
 * garbage round failed against the emulation, and this test carried skip-config shim-emulate:
 * mq_timedreceive on the 0622 POSIX queue, whose segment a sender must be able to write, failed
 * with EMSGSIZE after nobody garbled it ("child| mq_timedreceive: -1 EMSGSIZE", on 7f0273e).
 * Everything System V passes since each queue's identity lives in its own segment and a
 * damaged registry is rebuilt (attack_sysv_identity_shared_files pins that too). */
/* A user allowed to send to a queue cannot crash its owner or make the owner's calls hang: on
 * the kernel a queue's storage is the kernel's, and root's POSIX and System V queues of mode
 * 0622 (others may send) keep working whatever nobody does. Under the emulation the queues are
 * files, so nobody truncates to 0 every regular file under the namespace it can open for
 * writing, then (second round) overwrites and extends each with garbage; after each round root
 * keeps using both queues (receive, getattr / IPC_STAT, send, close, unlink / IPC_RMID) and
 * creates new ones. Every call must return within 2 s and give the kernel's result or EIO — the
 * honest best for a queue whose storage a hostile writer destroyed — printed as
 * "kernel-or-EIO"; anything else prints the actual result, and a signal death shows as
 * "HARNESS: test killed by SIGBUS". */
#include "harness.h"
#include "mqt_attack.h"

#define BOUND_MS 2000

/* ------------------------------------------------------------------------------------------ */
/* the attacker                                                                               */

static int hits;

static int truncate_file(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (!S_ISREG(st->st_mode))
        return S_ISDIR(st->st_mode);
    int fd = attack_open_for_writing(dirfd, name);
    if (fd >= 0) {
        if (ftruncate(fd, 0) == 0)
            hits++;
        close(fd);
    }
    return 0;
}

static int garble_file(int dirfd, const char *name, const struct stat *st, int depth, void *arg)
{
    (void)depth;
    (void)arg;
    if (!S_ISREG(st->st_mode))
        return S_ISDIR(st->st_mode);
    int fd = attack_open_for_writing(dirfd, name);
    if (fd >= 0) {
        static char junk[65536];
        memset(junk, 0xa5, sizeof junk);
        if (pwrite(fd, junk, sizeof junk, 0) == (ssize_t)sizeof junk)
            hits++;
        if (ftruncate(fd, 1 << 20) == 0)
            hits++;
        if (pwrite(fd, junk, 4096, 1 << 20) == 4096)   /* append beyond the old end */
            hits++;
        close(fd);
    }
    return 0;
}

/* Nobody: round 1 (truncate) when told, then round 2 (garbage) when told. */
static void attacker(t_chan *go, t_chan *done)
{
    attack_become_nobody();
    t_chan_wait(go);
    attack_walk(truncate_file, NULL);
    fprintf(stderr, "attack: truncated %d files\n", hits);
    t_chan_post(done);
    t_chan_wait(go);
    hits = 0;
    attack_walk(garble_file, NULL);
    fprintf(stderr, "attack: %d garbage writes\n", hits);
    t_chan_post(done);
    exit(t_child_status());
}

/* ------------------------------------------------------------------------------------------ */
/* root                                                                                       */

/* The kernel's result (`as_kernel`) or EIO: "kernel-or-EIO"; anything else: the actual one. */
static void judge(const char *label, int as_kernel, long r, int e)
{
    attack_judge(label, as_kernel || (r == -1 && e == EIO), "kernel-or-EIO", r, e);
}

#define BOUNDED(label, call) ATTACK_BOUNDED(label, BOUND_MS, call)

static void posix_receive(mqd_t q, const char *want, unsigned want_prio)
{
    char buf[64];
    unsigned prio = 0;
    struct timespec dl = t_deadline_ms(BOUND_MS / 4);
    long r = BOUNDED("mq_timedreceive", mq_timedreceive(q, buf, sizeof buf, &prio, &dl));
    int e = errno;
    judge("mq_timedreceive", r == (long)strlen(want) && memcmp(buf, want, strlen(want)) == 0
          && prio == want_prio, r, e);
}

static void posix_getattr(mqd_t q, long curmsgs)
{
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    long r = BOUNDED("mq_getattr", mq_getattr(q, &a));
    int e = errno;
    judge("mq_getattr", r == 0 && a.mq_flags == 0 && a.mq_maxmsg == 8 && a.mq_msgsize == 64
          && a.mq_curmsgs == curmsgs, r, e);
}

static void posix_send(mqd_t q, const char *text, unsigned prio)
{
    struct timespec dl = t_deadline_ms(BOUND_MS / 4);
    long r = BOUNDED("mq_timedsend", mq_timedsend(q, text, strlen(text), prio, &dl));
    judge("mq_timedsend", r == 0, r, errno);
}

static void sysv_receive(int id, const char *want, long want_type)
{
    struct t_msg m;
    memset(&m, 0, sizeof m);
    long r = BOUNDED("msgrcv", msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT));
    int e = errno;
    judge("msgrcv", r == (long)strlen(want) && memcmp(m.mtext, want, strlen(want)) == 0
          && m.mtype == want_type, r, e);
}

static void sysv_stat(int id, unsigned long qnum)
{
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    long r = BOUNDED("msgctl IPC_STAT", msgctl(id, IPC_STAT, &ds));
    int e = errno;
    judge("msgctl IPC_STAT", r == 0 && ds.msg_qnum == qnum && (ds.msg_perm.mode & 0777) == 0622
          && ds.msg_perm.uid == 0, r, e);
}

static void sysv_send(int id, const char *text, long type)
{
    struct t_msg m = { .mtype = type };
    memcpy(m.mtext, text, strlen(text));
    long r = BOUNDED("msgsnd", msgsnd(id, &m, strlen(text), IPC_NOWAIT));
    judge("msgsnd", r == 0, r, errno);
}

/* A new queue of each API, used and removed: the namespace must still serve root. */
static void fresh_posix(const char *tag)
{
    struct mq_attr attr = { .mq_maxmsg = 8, .mq_msgsize = 64 };
    const char *name = t_qname(tag);
    mqd_t q = (mqd_t)BOUNDED("mq_open", mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0622, &attr));
    judge("mq_open O_CREAT", q != (mqd_t)-1, (long)q, errno);
    if (q != (mqd_t)-1) {
        posix_send(q, "n1", 1);
        posix_receive(q, "n1", 1);
        long r = BOUNDED("mq_close", mq_close(q));
        judge("mq_close", r == 0, r, errno);
    }
    long r = BOUNDED("mq_unlink", mq_unlink(name));
    judge("mq_unlink", r == 0, r, errno);
}

static void fresh_sysv(const char *tag)
{
    key_t key = attack_key(tag);
    int id = (int)BOUNDED("msgget", msgget(key, IPC_CREAT | IPC_EXCL | 0622));
    judge("msgget IPC_CREAT", id >= 0, id, errno);
    if (id >= 0) {
        sysv_send(id, "n1", 1);
        sysv_receive(id, "n1", 1);
        long r = BOUNDED("msgctl IPC_RMID", msgctl(id, IPC_RMID, NULL));
        judge("msgctl IPC_RMID", r == 0, r, errno);
    }
}

static mqd_t victim_q;
static const char *victim_name;
static int victim_id;

static void posix_after_truncate(void)
{
    posix_receive(victim_q, "m3", 3);
    posix_getattr(victim_q, 2);
}

static void sysv_after_truncate(void)
{
    sysv_receive(victim_id, "m1", 1);
    sysv_stat(victim_id, 2);
}

static void posix_after_garbage(void)
{
    posix_send(victim_q, "m4", 4);
    posix_receive(victim_q, "m4", 4);
    posix_getattr(victim_q, 2);
}

static void sysv_after_garbage(void)
{
    sysv_send(victim_id, "m4", 4);
    sysv_receive(victim_id, "m2", 2);
    sysv_stat(victim_id, 2);
}

static void posix_remove(void)
{
    long r = BOUNDED("mq_close", mq_close(victim_q));
    judge("mq_close", r == 0, r, errno);
    r = BOUNDED("mq_unlink", mq_unlink(victim_name));
    judge("mq_unlink", r == 0, r, errno);
}

static void sysv_remove(void)
{
    long r = BOUNDED("msgctl IPC_RMID", msgctl(victim_id, IPC_RMID, NULL));
    judge("msgctl IPC_RMID", r == 0, r, errno);
}

static void fresh_posix1(void) { fresh_posix("fresh1"); }
static void fresh_sysv1(void) { fresh_sysv("fresh1"); }
static void fresh_posix2(void) { fresh_posix("fresh2"); }
static void fresh_sysv2(void) { fresh_sysv("fresh2"); }

int main(int argc, char **argv)
{
    (void)argc;
    attack_namespace_setup(argv);
    umask(0);
    struct mq_attr attr = { .mq_maxmsg = 8, .mq_msgsize = 64 };
    victim_name = t_qname("victim");
    victim_q = mq_open(victim_name, O_RDWR | O_CREAT | O_EXCL, 0622, &attr);
    T_REQUIRE(victim_q != (mqd_t)-1);
    key_t key;
    victim_id = t_msgget_new("victim", 0622, &key);
    static const char *texts[] = { "m1", "m2", "m3" };
    for (unsigned i = 0; i < 3; i++) {
        T_REQUIRE(mq_send(victim_q, texts[i], 2, i + 1) == 0);
        struct t_msg m = { .mtype = (long)i + 1 };
        memcpy(m.mtext, texts[i], 2);
        T_REQUIRE(msgsnd(victim_id, &m, 2, IPC_NOWAIT) == 0);
    }
    t_say("root: POSIX and System V queues of mode 0622 holding m1 m2 m3");

    t_chan go = t_chan_open(), done = t_chan_open();
    t_child c = t_spawn();
    if (c.pid == 0)
        attacker(&go, &done);

    t_say("-- nobody truncated every file it can write");
    t_chan_post(&go);
    t_chan_wait(&done);
    attack_group("POSIX queue:", posix_after_truncate);
    attack_group("System V queue:", sysv_after_truncate);
    attack_group("new POSIX queue:", fresh_posix1);
    attack_group("new System V queue:", fresh_sysv1);

    t_say("-- nobody overwrote and extended every file it can write with garbage");
    t_chan_post(&go);
    t_chan_wait(&done);
    attack_group("POSIX queue:", posix_after_garbage);
    attack_group("System V queue:", sysv_after_garbage);
    attack_group("new POSIX queue:", fresh_posix2);
    attack_group("new System V queue:", fresh_sysv2);
    t_join(&c, 0);

    t_say("-- root removes its queues");
    attack_group("POSIX queue:", posix_remove);
    attack_group("System V queue:", sysv_remove);
    /* Root's own descriptor (the groups closed only their copies). */
    long r = BOUNDED("mq_close", mq_close(victim_q));
    judge("mq_close", r == 0, r, errno);
    t_say("survived");
    return t_finish();
}
