/* mqt: static */
/* msg_lrpid is the pid of the last receiver — its process id (tgid) when the receiver took the
 * message from the queue, but when a send hands the message straight to a receiver blocked in
 * msgrcv (the kernel's pipelined send), the kernel records that receiving *thread's* id
 * (task_pid, not task_tgid). A second thread of this process blocks, the main thread sends;
 * then the main thread receives from the queue itself. */
#include "harness.h"
#include <pthread.h>
#include <sys/syscall.h>

static int id;
static volatile pid_t receiver_tid;
static t_chan ready;

static void *receiver(void *arg)
{
    (void)arg;
    struct t_msg r;
    receiver_tid = (pid_t)syscall(SYS_gettid);
    msgrcv(id, &r, sizeof r.mtext, 0, IPC_NOWAIT);     /* warm up (ENOMSG) */
    t_chan_post(&ready);
    long n = msgrcv(id, &r, sizeof r.mtext, 0, 0);
    return (void *)n;
}

static const char *who(pid_t p)
{
    return p == 0 ? "0" : p == getpid() ? "the process" : p == receiver_tid ? "the receiving thread" : "someone else";
}

int main(void)
{
    id = t_msgget_new("lrpid", 0600, NULL);
    ready = t_chan_open();
    pthread_t t;
    T_REQUIRE(pthread_create(&t, NULL, receiver, NULL) == 0);
    t_chan_wait(&ready);
    /* Wait until the thread sleeps in msgrcv (its own /proc entry). */
    for (int i = 0, streak = 0; i < 5000 && streak < 3; i++) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)receiver_tid);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        streak = (p && p[1] == ' ' && p[2] == 'S') ? streak + 1 : 0;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    t_say("the receiving thread is blocked");
    t_check("it is not the main thread", receiver_tid != getpid());

    struct t_msg m = { .mtype = 1 };
    memcpy(m.mtext, "direct", 6);
    EXPECT_EQ(msgsnd(id, &m, 6, 0), 0);
    void *ret;
    T_REQUIRE(pthread_join(t, &ret) == 0);
    t_say("the thread received %ld bytes", (long)ret);
    struct msqid_ds ds;
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("after the hand-over: qnum %lu, lrpid is %s, lspid is %s", (unsigned long)ds.msg_qnum,
          who(ds.msg_lrpid), who(ds.msg_lspid));

    memcpy(m.mtext, "queued", 6);
    EXPECT_EQ(msgsnd(id, &m, 6, 0), 0);
    struct t_msg r;
    EXPECT_EQ(msgrcv(id, &r, sizeof r.mtext, 0, 0), 6);
    EXPECT_EQ(msgctl(id, IPC_STAT, &ds), 0);
    t_say("after a receive from the queue: lrpid is %s", who(ds.msg_lrpid));

    EXPECT_EQ(msgctl(id, IPC_RMID, NULL), 0);
    return t_finish();
}
