/* Queue system calls made with syscall(2), past libc's wrappers: what a program, a language
 * runtime or LTP's "syscall" variants do. Each is counted under the name mqshim's trace gives
 * the trapped call (MQSHIM_SYSCALLS=trap): mq_timedsend/mq_timedreceive whatever the timeout,
 * mq_getsetattr as mq_setattr when it sets, else mq_getattr. The raw mq_open and mq_unlink
 * take the name without its leading '/', as the system calls do.
 * Include after harness.h. */
#ifndef MQT_RAW_H
#define MQT_RAW_H

#include <sys/syscall.h>

static long raw_mq_open(const char *name, int oflag, mode_t mode, struct mq_attr *attr) T_UNUSED;
static long raw_mq_open(const char *name, int oflag, mode_t mode, struct mq_attr *attr)
{
    t_count(T_MQ_OPEN);
    return syscall(SYS_mq_open, name, oflag, mode, attr);
}

static long raw_mq_unlink(const char *name) T_UNUSED;
static long raw_mq_unlink(const char *name)
{
    t_count(T_MQ_UNLINK);
    return syscall(SYS_mq_unlink, name);
}

static long raw_mq_timedsend(int q, const void *msg, size_t len, unsigned prio, const struct timespec *t) T_UNUSED;
static long raw_mq_timedsend(int q, const void *msg, size_t len, unsigned prio, const struct timespec *t)
{
    t_count(T_MQ_TIMEDSEND);
    return syscall(SYS_mq_timedsend, q, msg, len, prio, t);
}

static long raw_mq_timedreceive(int q, void *msg, size_t len, unsigned *prio, const struct timespec *t) T_UNUSED;
static long raw_mq_timedreceive(int q, void *msg, size_t len, unsigned *prio, const struct timespec *t)
{
    t_count(T_MQ_TIMEDRECEIVE);
    return syscall(SYS_mq_timedreceive, q, msg, len, prio, t);
}

static long raw_mq_notify(int q, const struct sigevent *sev) T_UNUSED;
static long raw_mq_notify(int q, const struct sigevent *sev)
{
    t_count(T_MQ_NOTIFY);
    return syscall(SYS_mq_notify, q, sev);
}

static long raw_mq_getsetattr(int q, const struct mq_attr *new_attr, struct mq_attr *old) T_UNUSED;
static long raw_mq_getsetattr(int q, const struct mq_attr *new_attr, struct mq_attr *old)
{
    t_count(new_attr ? T_MQ_SETATTR : T_MQ_GETATTR);
    return syscall(SYS_mq_getsetattr, q, new_attr, old);
}

static long raw_msgget(key_t key, int flags) T_UNUSED;
static long raw_msgget(key_t key, int flags)
{
    t_count(T_MSGGET);
    return syscall(SYS_msgget, key, flags);
}

static long raw_msgsnd(int id, const void *msgp, size_t size, int flags) T_UNUSED;
static long raw_msgsnd(int id, const void *msgp, size_t size, int flags)
{
    t_count(T_MSGSND);
    return syscall(SYS_msgsnd, id, msgp, size, flags);
}

static long raw_msgrcv(int id, void *msgp, size_t size, long type, int flags) T_UNUSED;
static long raw_msgrcv(int id, void *msgp, size_t size, long type, int flags)
{
    t_count(T_MSGRCV);
    return syscall(SYS_msgrcv, id, msgp, size, type, flags);
}

static long raw_msgctl(int id, int cmd, struct msqid_ds *buf) T_UNUSED;
static long raw_msgctl(int id, int cmd, struct msqid_ds *buf)
{
    t_count(T_MSGCTL);
    return syscall(SYS_msgctl, id, cmd, buf);
}

/* The trap tests whose SIGUSR1 handler makes a raw call while a wait's mask blocks every other
 * signal (SIGSYS included): the queue the handler asks, and what it saw of it (its maxmsg, or -1
 * when the raw call failed). */
static mqd_t raw_probe_q T_UNUSED;
static volatile long raw_probe_maxmsg T_UNUSED;

/* Makes the raw call and keeps what it said of the queue. */
static void raw_probe_on_usr1(int sig) T_UNUSED;
static void raw_probe_on_usr1(int sig)
{
    (void)sig;
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    raw_probe_maxmsg = raw_mq_getsetattr(raw_probe_q, NULL, &a) == 0 ? a.mq_maxmsg : -1;
}

/* Creates the queue TAG (maxmsg 3) the handler asks, installs the handler for SIGUSR1, blocks
 * SIGUSR1 and fills *all_but_usr1 with every other signal: the mask each test's wait uses. */
static mqd_t raw_probe_start(const char *tag, sigset_t *all_but_usr1) T_UNUSED;
static mqd_t raw_probe_start(const char *tag, sigset_t *all_but_usr1)
{
    raw_probe_q = t_mq_create(tag, 3, 16, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = raw_probe_on_usr1;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    EXPECT_EQ(sigprocmask(SIG_BLOCK, &usr1, NULL), 0);
    sigfillset(all_but_usr1);
    sigdelset(all_but_usr1, SIGUSR1);
    return raw_probe_q;
}

#endif
