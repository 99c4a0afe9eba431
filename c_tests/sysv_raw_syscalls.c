/* mqt: env MQSHIM_SYSCALLS=trap static */
/* The System V queue system calls made with syscall(2) behave as the kernel's: msgget
 * (create, find, EEXIST), msgsnd and msgrcv by type, IPC_NOWAIT's ENOMSG, E2BIG, msgctl
 * IPC_STAT/IPC_SET/IPC_RMID, EFAULT for bad pointers, EINVAL after removal, and EINTR when a
 * signal interrupts a blocked msgrcv (never restarted, even with SA_RESTART). Under mqshim this
 * needs MQSHIM_SYSCALLS=trap (without it the kernel gets an id it does not know). */
#include "harness.h"
#include "mqt_raw.h"

struct msg { long type; char text[16]; };

static void on_usr1(int sig) { (void)sig; }

int main(void)
{
    key_t key;
    int id = t_msgget_new("raw", 0600, &key);   /* records the key for cleanup */
    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);

    int q = (int)EXPECT_OK(raw_msgget(key, IPC_CREAT | IPC_EXCL | 0600));
    EXPECT_ERR(raw_msgget(key, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    t_check("msgget finds the same id", raw_msgget(key, 0) == q);

    struct msg m = { 2, "two" }, r;
    EXPECT_EQ(raw_msgsnd(q, &m, 4, 0), 0);
    m.type = 1;
    strcpy(m.text, "one");
    EXPECT_EQ(raw_msgsnd(q, &m, 4, 0), 0);
    EXPECT_ERR(raw_msgsnd(q, (const void *)8, 4, 0), EFAULT);
    m.type = 0;
    EXPECT_ERR(raw_msgsnd(q, &m, 4, 0), EINVAL);

    struct msqid_ds ds;
    EXPECT_EQ(raw_msgctl(q, IPC_STAT, &ds), 0);
    t_say("qnum=%lu cbytes=%lu mode=%o", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes, (unsigned)(ds.msg_perm.mode & 0777));
    EXPECT_ERR(raw_msgctl(q, IPC_STAT, (struct msqid_ds *)8), EFAULT);
    ds.msg_perm.mode = 0640;
    EXPECT_EQ(raw_msgctl(q, IPC_SET, &ds), 0);

    EXPECT_ERR(raw_msgrcv(q, &r, 2, 2, 0), E2BIG);
    EXPECT_EQ(raw_msgrcv(q, &r, sizeof r.text, 2, 0), 4);
    t_say("type %ld '%s'", r.type, r.text);
    EXPECT_EQ(raw_msgrcv(q, &r, sizeof r.text, 0, 0), 4);
    t_say("type %ld '%s'", r.type, r.text);
    EXPECT_ERR(raw_msgrcv(q, &r, sizeof r.text, 0, IPC_NOWAIT), ENOMSG);
    EXPECT_EQ(raw_msgctl(q, IPC_STAT, &ds), 0);
    t_say("qnum=%lu mode=%o", (unsigned long)ds.msg_qnum, (unsigned)(ds.msg_perm.mode & 0777));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pid_t self = getpid();
    t_child c = t_spawn();
    if (c.pid == 0) {
        t_wait_blocked(self);
        kill(self, SIGUSR1);
        exit(t_child_status());
    }
    EXPECT_ERR(raw_msgrcv(q, &r, sizeof r.text, 0, 0), EINTR);
    t_join(&c, 0);

    /* An id from msgget(3), used by the system calls, and the other way round. */
    int lq = t_msgget_new("lib", 0600, NULL);
    m.type = 7;
    EXPECT_EQ(raw_msgsnd(lq, &m, 4, 0), 0);
    EXPECT_EQ(msgrcv(lq, &r, sizeof r.text, 7, 0), 4);
    EXPECT_EQ(msgsnd(q, &m, 4, 0), 0);
    EXPECT_EQ(raw_msgrcv(q, &r, sizeof r.text, 7, IPC_NOWAIT), 4);
    EXPECT_EQ(msgctl(lq, IPC_RMID, NULL), 0);

    EXPECT_EQ(raw_msgctl(q, IPC_RMID, NULL), 0);
    EXPECT_ERR(raw_msgsnd(q, &m, 4, 0), EINVAL);
    EXPECT_ERR(raw_msgctl(q, IPC_STAT, &ds), EINVAL);
    return t_finish();
}
