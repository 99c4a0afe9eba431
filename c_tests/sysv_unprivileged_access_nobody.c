/* mqt: static */
/* System V permissions are checked like ipcperms(): the class (owner if euid is uid or cuid,
 * group if cgid or gid is among the caller's groups, else other) and only the access asked for.
 * Root makes queues 0600, 0644, 0622 and 0640. nobody (no groups): msgget(key, 0) and
 * msgget(key, IPC_CREAT) succeed on the 0600 queue — they ask for nothing — while a msgget
 * that names any mode bit it lacks is EACCES; msgsnd, msgrcv, IPC_STAT and MSG_STAT need write
 * or read permission (EACCES), MSG_STAT_ANY needs none. With root's group as a supplementary
 * group, the group bits apply (0640: read, not write). */
#include "harness.h"
#include <grp.h>

#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif

static const int modes[] = { 0600, 0644, 0622, 0640 };
#define NQ 4
static int ids[NQ];
static key_t keys[NQ];

static void result(const char *what, long r, int e, int want_errno)
{
    printf("%s -> %s", what, r < 0 ? t_errno_name(e) : "ok");
    if (want_errno ? !(r < 0 && e == want_errno) : r < 0) {
        t_failures++;
        printf("  !! MISMATCH: expected %s", want_errno ? t_errno_name(want_errno) : "ok");
    }
    printf("\n");
}

/* Every operation on queue i, expecting success where the class's bits allow it. */
static void matrix(int i, int bits)
{
    char what[96];
    struct msqid_ds ds;
    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "from nobody", 11);
    int r_ok = bits & 4, w_ok = bits & 2;
    long r;

    t_say("- mode %04o (caller's bits %o)", modes[i], bits);
    errno = 0;
    r = msgget(keys[i], 0);
    snprintf(what, sizeof what, "  msgget(key, 0)");
    result(what, r, errno, 0);
    t_check("  it is the queue's id", r == ids[i]);
    errno = 0;
    r = msgget(keys[i], IPC_CREAT);
    result("  msgget(key, IPC_CREAT)", r, errno, 0);
    errno = 0;
    r = msgget(keys[i], 0400);
    result("  msgget(key, 0400)", r, errno, r_ok ? 0 : EACCES);
    errno = 0;
    r = msgget(keys[i], 0004);
    result("  msgget(key, 0004)", r, errno, r_ok ? 0 : EACCES);
    errno = 0;
    r = msgget(keys[i], 0200);
    result("  msgget(key, 0200)", r, errno, w_ok ? 0 : EACCES);
    errno = 0;
    r = msgget(keys[i], IPC_CREAT | 0666);
    result("  msgget(key, IPC_CREAT|0666)", r, errno, r_ok && w_ok ? 0 : EACCES);
    errno = 0;
    r = msgsnd(ids[i], &m, 11, IPC_NOWAIT);
    result("  msgsnd", r, errno, w_ok ? 0 : EACCES);
    struct t_msg got;
    errno = 0;
    r = msgrcv(ids[i], &got, sizeof got.mtext, 99, IPC_NOWAIT);
    result("  msgrcv(type 99, IPC_NOWAIT)", r, errno, r_ok ? ENOMSG : EACCES);
    errno = 0;
    r = msgctl(ids[i], IPC_STAT, &ds);
    result("  IPC_STAT", r, errno, r_ok ? 0 : EACCES);
    errno = 0;
    r = msgctl(ids[i] % 32768, MSG_STAT, &ds);
    result("  MSG_STAT", r, errno, r_ok ? 0 : EACCES);
    errno = 0;
    r = msgctl(ids[i] % 32768, MSG_STAT_ANY, &ds);
    result("  MSG_STAT_ANY", r, errno, 0);
    t_check("  MSG_STAT_ANY returns the id", r == ids[i]);
}

int main(void)
{
    for (int i = 0; i < NQ; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "acc%04o", modes[i]);
        ids[i] = t_msgget_new(tag, modes[i], &keys[i]);
    }
    t_say("root created queues with modes 0600 0644 0622 0640");

    t_say("-- nobody, no supplementary groups (the \"other\" bits apply)");
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_become_nobody(0);
        for (int i = 0; i < NQ; i++)
            matrix(i, modes[i] & 7);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- nobody with supplementary group root (the \"group\" bits apply)");
    c = t_spawn();
    if (c.pid == 0) {
        t_become_nobody(1);
        for (int i = 0; i < NQ; i++)
            matrix(i, (modes[i] >> 3) & 7);
        exit(t_child_status());
    }
    t_join(&c, 0);

    t_say("-- root receives what nobody could send");
    for (int i = 0; i < NQ; i++) {
        struct t_msg r;
        struct msqid_ds ds;
        EXPECT_EQ(msgctl(ids[i], IPC_STAT, &ds), 0);
        t_say("mode %04o: qnum %lu, last sender %s", modes[i], (unsigned long)ds.msg_qnum,
              ds.msg_lspid == 0 ? "none" : ds.msg_lspid == getpid() ? "root" : "a child");
        for (;;) {
            long n = msgrcv(ids[i], &r, sizeof r.mtext, 0, IPC_NOWAIT);
            if (n < 0)
                break;
            t_show_typed("  received", r.mtext, n, r.mtype);
        }
        EXPECT_EQ(msgctl(ids[i], IPC_RMID, NULL), 0);
    }
    return t_finish();
}
